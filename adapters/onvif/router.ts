// The ONVIF face: one Express router for every camera's services. Each request: raw body
// (size-capped, also after gzip) → SOAP envelope → operation by the Body's qualified name (on any
// service path; SOAPAction is ignored) → auth (HTTP Digest, then WS-UsernameToken; the Core
// pre-auth set open) → role → the service's handler → SOAP answer or Fault, always with a
// Content-Length and never chunked (design.md §6).
import express, { type Request, type Response } from 'express';
import { mayAccessCamera, roleAllows, type Principal, type UserStore } from '../../gateway/auth.ts';
import type { CameraEntry, CameraRegistry } from '../../gateway/cameras.ts';
import { DigestVerifier } from '../../gateway/http-digest.ts';
import type { Logger } from '../../gateway/logger.ts';
import { rateLimitUser, type RateLimiter } from '../../gateway/rate-limit.ts';
import { isProblem, ProblemError } from '../../gateway/problems.ts';
import { snapshotHandler } from '../media/snapshot.ts';
import type { Access, OnvifContext, OnvifOperation, OnvifService, ServiceKey } from './service.ts';
import { addressingReply, CONTENT_TYPE, OnvifFault, parseEnvelope, renderEnvelope, renderFault, type SoapVersion } from './soap.ts';
import { clockOffsetOf } from './clock-offset.ts';
import { readUsernameToken, ReplayCache, verifyUsernameToken } from './wsse.ts';

export const SOAP_BODY_LIMIT = 256 * 1024;
/** libonvif refuses larger answers (design.md §6); a bigger one is a bug, logged. */
export const MAX_REPLY_BYTES = 64 * 1024;

export interface OnvifDeps {
  cameras: CameraRegistry;
  users: UserStore;
  logger: Logger;
  services: readonly OnvifService[];
  /** `http(s)://host:port` to put in XAddrs instead of the request's Host. */
  publicOrigin?: string;
  now?: () => number;
  /** The REST side's limiter, so a user's PTZ moves share one budget on both faces. */
  rateLimiter?: RateLimiter;
}

export interface OnvifRouter {
  router: express.Router;
  /** Ends subscriptions and pulls (gateway stop); with an entry, only that camera's. */
  close(entry?: CameraEntry): Promise<void>;
}

const ACCESS_ROLE: Record<Exclude<Access, 'preauth'>, Principal['role']> = { viewer: 'viewer', operator: 'operator', admin: 'admin' };

export function onvifRouter(deps: OnvifDeps): OnvifRouter {
  const now = deps.now ?? Date.now;
  const digest = new DigestVerifier(now);
  const replays = new ReplayCache();
  const operations = new Map<string, { service: OnvifService; op: OnvifOperation }>();
  for (const service of deps.services) {
    for (const op of service.operations) {
      const key = `{${op.ns ?? service.ns}}${op.name}`;
      if (operations.has(key)) throw new Error(`ONVIF operation ${key} is registered twice`);
      operations.set(key, { service, op });
    }
  }

  const router = express.Router();
  const rawBody = express.raw({ type: () => true, limit: SOAP_BODY_LIMIT, inflate: true });

  // The device service of the first camera (design.md §2, contract) and every camera's services.
  router.post('/device_service', rawBody, (req, res) => {
    const first = deps.cameras.list()[0];
    void handle(req, res, first, 'device_service');
  });
  // The snapshot URI that GetSnapshotUri hands out: Digest (VMS) and Basic, like a camera's.
  const snapshot = snapshotHandler(deps.cameras);
  router.get('/:cameraId/snapshot', (req, res, next) => {
    const entry = deps.cameras.get(req.params.cameraId);
    const principal = httpPrincipal(req);
    if (!principal) {
      res.setHeader('WWW-Authenticate', [digest.challenge(), 'Basic realm="camgate", charset="UTF-8"']);
      res.status(401).type('text/plain').send('credentials needed');
      return;
    }
    if (!entry || !mayAccessCamera(principal, entry.id)) {
      res.status(404).type('text/plain').send('no such camera');
      return;
    }
    // The same snapshot budget as the REST snapshot operation (x-rate-limit: snapshot).
    const allowed = deps.rateLimiter?.take('snapshot', rateLimitUser(principal), entry.id) ?? { ok: true };
    if (!allowed.ok) {
      res.setHeader('Retry-After', String(allowed.retryAfterSeconds));
      res.status(429).type('text/plain').send('too many snapshots');
      return;
    }
    snapshot(req, res).catch(next);
  });
  router.post(/^\/([A-Za-z0-9][A-Za-z0-9_-]{0,63})\/(.+)$/, rawBody, (req, res) => {
    const params = req.params as unknown as Record<string, string>;
    void handle(req, res, deps.cameras.get(params[0]!), params[1]!);
  });
  // Everything else under /onvif (GET on a service, unknown paths) is a SOAP Fault as well.
  router.use((req, res) => {
    send(res, '1.2', undefined, new OnvifFault('Sender', ['ter:ActionNotSupported'], `no ONVIF service answers ${req.method} ${req.path}`, req.method === 'POST' ? 404 : 405));
  });
  router.use((err: unknown, req: Request, res: Response, _next: express.NextFunction) => {
    const e = err as { type?: string; status?: number };
    if (e.type === 'entity.too.large') return send(res, '1.2', undefined, new OnvifFault('Sender', ['ter:InvalidArgVal'], `the SOAP body limit is ${SOAP_BODY_LIMIT} bytes`, 413));
    if (e.status !== undefined && e.status < 500) return send(res, '1.2', undefined, new OnvifFault('Sender', ['ter:WellFormed'], 'the request body could not be read', e.status));
    deps.logger.error({ err, path: req.path }, 'ONVIF internal error');
    return send(res, '1.2', undefined, new OnvifFault('Receiver', [], 'internal error'));
  });

  /** HTTP-level credentials: Digest (ONVIF clients, VMS) or Basic/Bearer (gateway users). */
  function httpPrincipal(req: Request): Principal | undefined {
    const header = req.headers.authorization;
    if (!header) return undefined;
    if (/^Digest\s/i.test(header)) {
      const result = digest.verify(req.method, header, (name) => deps.users.passwordOf(name));
      return result.ok ? deps.users.principalOf(result.username, 'digest') : undefined;
    }
    return deps.users.authenticate(header);
  }

  async function handle(req: Request, res: Response, entry: CameraEntry | undefined, subpath: string): Promise<void> {
    let version: SoapVersion = /soap\+xml/i.test(req.headers['content-type'] ?? '') ? '1.2' : '1.1';
    let header: OnvifContext['header'];
    try {
      const body = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
      const envelope = parseEnvelope(body);
      version = envelope.version;
      header = envelope.header;
      const found = operations.get(`{${envelope.body.ns}}${envelope.body.local}`);
      if (!entry) throw new OnvifFault('Sender', ['ter:InvalidArgVal'], 'no such camera', 404);
      if (!found) {
        throw new OnvifFault('Receiver', ['ter:ActionNotSupported'], `${envelope.body.local} is not supported`);
      }
      const principal = authenticate(req, res, found.op.access, header, entry);
      if (principal && !mayAccessCamera(principal, entry.id)) throw new OnvifFault('Sender', ['ter:InvalidArgVal'], 'no such camera', 404);
      const abort = new AbortController();
      const onClose = (): void => {
        if (!res.writableFinished) abort.abort();
      };
      res.on('close', onClose);
      const ctx: OnvifContext = {
        entry,
        cameras: deps.cameras,
        users: deps.users,
        principal,
        origin: originOf(req, deps.publicOrigin),
        xaddr: (key: ServiceKey) => `${originOf(req, deps.publicOrigin)}/onvif/${entry.id}/${deps.services.find((s) => s.key === key)?.path ?? `${key}_service`}`,
        subpath,
        version,
        header,
        signal: abort.signal,
        now,
        services: deps.services,
        logger: deps.logger,
        ...(deps.rateLimiter ? { rateLimiter: deps.rateLimiter } : {}),
      };
      try {
        if (found.service.key !== 'device' && !(await found.service.available(ctx))) {
          throw new OnvifFault('Receiver', ['ter:ActionNotSupported'], `this camera has no ${found.service.key} service`);
        }
        const answer = await found.op.handle(envelope.body, ctx);
        if (abort.signal.aborted) return;
        const xml = renderEnvelope(version, answer, addressingReply(header, false));
        if (xml.length > MAX_REPLY_BYTES) deps.logger.warn({ path: req.path, bytes: xml.length }, 'ONVIF answer larger than 64 KB: libonvif clients refuse it');
        send(res, version, xml);
      } finally {
        res.off('close', onClose);
      }
    } catch (err) {
      if (res.headersSent || req.socket.destroyed) return;
      send(res, version, undefined, toFault(err, deps.logger, req.path), header);
    }
  }

  /**
   * The caller's principal, or a fault. Pre-auth operations ignore credentials that fail (a client
   * may send a token signed with a wrong clock before it has read ours).
   */
  function authenticate(req: Request, res: Response, access: Access, header: OnvifContext['header'], entry: CameraEntry): Principal | undefined {
    let principal: Principal | undefined;
    let failure: OnvifFault | undefined;
    const auth = req.headers.authorization;
    if (auth && /^Digest\s/i.test(auth)) {
      const result = digest.verify(req.method, auth, (name) => deps.users.passwordOf(name));
      if (result.ok) principal = deps.users.principalOf(result.username, 'digest');
      else {
        res.setHeader('WWW-Authenticate', digest.challenge(result.stale));
        failure = new OnvifFault('Sender', ['ter:NotAuthorized'], result.stale ? 'the Digest nonce is stale' : 'wrong user name or password', 401);
      }
    }
    const token = principal ? undefined : readUsernameToken(header);
    if (token) {
      const offset = clockOffsetOf(entry);
      const check = verifyUsernameToken(token, (name) => deps.users.passwordOf(name), now(), replays, offset === undefined ? undefined : now() + offset);
      if (check.ok) principal = deps.users.principalOf(check.username, 'wsse');
      else failure = new OnvifFault('Sender', ['ter:NotAuthorized'], `the UsernameToken was refused: ${check.reason}`, 400);
    }
    if (access === 'preauth') return principal;
    if (!principal) {
      if (failure) throw failure;
      // No credentials at all: offer HTTP Digest (clients with UsernameToken send it anyway).
      res.setHeader('WWW-Authenticate', digest.challenge());
      throw new OnvifFault('Sender', ['ter:NotAuthorized'], 'this operation needs credentials (HTTP Digest or WS-UsernameToken)', 401);
    }
    if (!roleAllows(principal.role, ACCESS_ROLE[access])) {
      throw new OnvifFault('Sender', ['ter:NotAuthorized'], `this operation needs the ${ACCESS_ROLE[access]} role`, 400);
    }
    return principal;
  }

  return {
    router,
    close: async (entry) => {
      for (const s of deps.services) await s.close?.(entry);
    },
  };
}

/** Camera-layer errors as SOAP Faults; anything unexpected is logged and said in one line. */
function toFault(err: unknown, logger: Logger, path: string): OnvifFault {
  if (err instanceof OnvifFault) return err;
  if (isProblem(err)) {
    const problem = err as ProblemError;
    switch (problem.code) {
      case 'NOT_SUPPORTED_BY_MODEL':
        return new OnvifFault('Receiver', ['ter:ActionNotSupported'], problem.detail ?? 'not supported by this camera model');
      case 'VALIDATION_FAILED':
      case 'CAMERA_REJECTED':
        return new OnvifFault('Sender', ['ter:InvalidArgVal'], problem.message);
      default:
        return new OnvifFault('Receiver', [], `${problem.code}: ${problem.message}`, problem.status >= 500 ? problem.status : 500);
    }
  }
  logger.error({ err, path }, 'ONVIF internal error');
  return new OnvifFault('Receiver', [], 'internal error');
}

function send(res: Response, version: SoapVersion, xml: string | undefined, fault?: OnvifFault, requestHeader?: OnvifContext['header']): void {
  const payload = Buffer.from(fault ? renderFault(version, fault, addressingReply(requestHeader, true)) : xml!, 'utf8');
  res.status(fault ? fault.httpStatus : 200);
  // Set by us, never echoed; spelled exactly `Content-Length` (libonvif searches for it).
  res.setHeader('Content-Type', CONTENT_TYPE[version]);
  res.setHeader('Content-Length', String(payload.length));
  res.end(payload);
}

const HOST = /^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

/** The origin to put in XAddrs: the configured public one, else the request's Host when it is sane. */
function originOf(req: Request, configured: string | undefined): string {
  if (configured) return configured.replace(/\/+$/, '');
  const host = req.headers.host;
  if (host && HOST.test(host)) return `http://${host}`;
  const local = req.socket.localAddress ?? '127.0.0.1';
  return `http://${local.includes(':') ? `[${local}]` : local}:${req.socket.localPort}`;
}
