// Typed functions over the camera's CGI, shared by the REST and ONVIF faces. The client moves
// bytes and handles auth; this layer turns the camera's answers into results or catalog errors.

import { ProblemError } from '../../gateway/problems.ts';
import { parseKeyValue, type CgiDoc } from './codec.ts';
import { cameraErrorFromBody, cameraErrorFromStatus } from './errors.ts';
import { buildQuery } from './query.ts';
import { isReadAction, type CameraClient, type CameraClientOptions } from './client.ts';

export interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Instead of `signal`: the caller's controller, which the call's deadline may abort too (see CgiRequest). */
  controller?: AbortController;
}

const CONFIG_MANAGER = '/cgi-bin/configManager.cgi';

export class Camera {
  private readonly logger: CameraClientOptions['logger'];

  constructor(
    readonly id: string,
    readonly model: string,
    readonly client: CameraClient,
    logger?: CameraClientOptions['logger'],
  ) {
    this.logger = logger ?? client.logger;
  }

  /**
   * One CGI call; resolves with the body of a successful answer. Throws ProblemError for a
   * refused value (before anything is sent), transport failures, HTTP errors and `Error` bodies.
   * Retries (reads only) are decided by the `action` parameter.
   */
  async call(path: string, params: Array<[string, string]>, opts: CallOptions = {}): Promise<string> {
    const query = buildQuery(params);
    const action = params.find(([k]) => k === 'action')?.[1];
    const req: Parameters<CameraClient['request']>[0] = { path, query, read: action !== undefined && isReadAction(action) };
    if (opts.timeoutMs !== undefined) req.timeoutMs = opts.timeoutMs;
    if (opts.signal !== undefined) req.signal = opts.signal;
    if (opts.controller !== undefined) {
      req.signal = opts.controller.signal;
      req.controller = opts.controller;
    }
    const res = await this.client.request(req);
    const problem = cameraErrorFromStatus(res.status, res.body) ?? cameraErrorFromBody(res.body);
    if (problem !== null) {
      this.logger?.debug({ camera: this.id, path, action, code: problem.code, cameraErrorId: problem.cameraErrorId }, 'camera refused a call');
      throw problem;
    }
    return res.body;
  }

  /** `getConfig&name=X`, parsed and untyped, head stripped: `{ General: {...} }`. */
  async getConfig(name: string, opts: CallOptions = {}): Promise<CgiDoc> {
    const body = await this.call(CONFIG_MANAGER, [['action', 'getConfig'], ['name', name]], opts);
    const { doc, warnings } = parseKeyValue(body);
    if (warnings.length > 0) this.logger?.warn({ camera: this.id, config: name, warnings }, 'camera config answer has lines that could not be read');
    return doc;
  }

  /** `setConfig` with the given keys; the camera answers `OK` or an `Error` body. */
  async setConfig(params: Array<[string, string]>, opts: CallOptions = {}): Promise<void> {
    if (params.length === 0) return;
    const body = await this.call(CONFIG_MANAGER, [['action', 'setConfig'], ...params], opts);
    if (body.trim() !== 'OK') {
      throw new ProblemError('CAMERA_PROTOCOL_ERROR', { detail: 'The camera did not confirm the change with OK' });
    }
  }
}
