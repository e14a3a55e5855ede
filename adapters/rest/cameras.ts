// The camera collection: list and read with health, and add, change and remove at run time
// (gateway/fleet.ts does the work). Never answers a camera's address credentials or password.
import type { Request } from 'express';
import { existingHub } from '../events/hub.ts';
import { mayAccessCamera } from '../../gateway/auth.ts';
import type { CameraEntry } from '../../gateway/cameras.ts';
import { cameraFromUrl, ConfigError, DEFAULT_MODEL, type CameraConfig, type CameraModel } from '../../gateway/config.ts';
import { addCamera, changeCamera, removeCamera, type CameraChange } from '../../gateway/fleet.ts';
import { ProblemError } from '../../gateway/problems.ts';
import type { HandlerFactory } from './handlers.ts';

/** Errors that say the camera did not answer at all. */
const NO_ANSWER = new Set(['CAMERA_UNREACHABLE', 'CAMERA_TIMEOUT']);
/** Errors that say the camera (or our breaker for it) refused the login. */
const LOGIN_REFUSED = new Set(['CAMERA_AUTH_FAILED', 'CAMERA_LOCKED_OUT']);

/** The camera's last error as one line (catalog code and our own detail; never the camera's URL). */
function lastErrorText(last: CameraEntry['client']['lastError']): string | null {
  if (!last) return null;
  return `${last.at} ${last.code}${last.detail ? `: ${last.detail}` : ''}`.slice(0, 200);
}

/** What an operator needs to see at a glance; `null` where nothing is known yet (no call so far). */
export function cameraHealth(entry: CameraEntry, now: number = Date.now()): Record<string, unknown> {
  const client = entry.client;
  const last = client.lastError;
  const ok = client.lastSuccess;
  // The last error counts only when no call has succeeded since.
  const failing = last !== undefined && (ok === undefined || last.at >= ok) ? last : undefined;
  let reachable: boolean | null = ok !== undefined ? true : null;
  if (failing && NO_ANSWER.has(failing.code)) reachable = false;
  else if (failing?.code === 'CAMERA_AUTH_FAILED') reachable = true;
  let authOk: boolean | null = ok !== undefined ? true : null;
  if (client.breaker.state !== 'closed' || (failing && LOGIN_REFUSED.has(failing.code))) authOk = false;

  const hub = existingHub(entry);
  const lastEvent = hub && hub.lastId > 0 ? hub.since(hub.lastId - 1)[0] : undefined;
  return {
    reachable,
    authOk,
    breaker: client.breaker.state,
    requests: client.stats.requests,
    authFailures: client.stats.authFailures,
    inFlight: client.inFlight,
    queued: client.queued,
    lastError: lastErrorText(last),
    lastErrorCode: last?.code ?? null,
    lastErrorAt: last?.at ?? null,
    lastSuccessAt: ok ?? null,
    events: {
      connected: hub?.connected ?? false,
      subscribers: hub?.subscriberCount ?? 0,
      lastEventAt: lastEvent?.gatewayTime ?? null,
      lastEventAgeSeconds: lastEvent ? Math.max(0, Math.round((now - Date.parse(lastEvent.gatewayTime)) / 100) / 10) : null,
    },
  };
}

export function cameraSummary(entry: CameraEntry, basePath: string): Record<string, unknown> {
  const body: Record<string, unknown> = {
    id: entry.id,
    model: entry.model,
    simulated: entry.simulated,
    persisted: entry.persisted,
    health: cameraHealth(entry),
    links: { self: `${basePath}/cameras/${entry.id}` },
  };
  if (entry.name !== undefined) body.name = entry.name;
  return body;
}

export const listCameras: HandlerFactory = (ctx) => async (req, res) => {
  // A principal limited to some cameras sees only those (the camera-scoped paths answer 404 for the others).
  const mine = ctx.cameras.list().filter((e) => req.principal !== undefined && mayAccessCamera(req.principal, e.id));
  res.json({ items: mine.map((e) => cameraSummary(e, ctx.spec.basePath)) });
};

export const getCamera: HandlerFactory = (ctx) => async (req, res) => {
  const entry = ctx.cameras.get(String(req.params.cameraId));
  if (!entry) throw new ProblemError('NOT_FOUND', { detail: `no camera ${String(req.params.cameraId)}` });
  res.json(cameraSummary(entry, ctx.spec.basePath));
};

interface CameraBody {
  id?: string;
  url?: string;
  username?: string;
  password?: string;
  model?: CameraModel;
  name?: string | null;
}

/** The address part of a camera URL; the document's pattern already refuses credentials in it. */
function baseUrlOf(url: string, id: string): string {
  try {
    return cameraFromUrl(url, id, DEFAULT_MODEL, 'url', true).baseUrl;
  } catch (err) {
    if (err instanceof ConfigError) throw new ProblemError('VALIDATION_FAILED', { errors: [{ pointer: '/url', message: err.message }] });
    throw err;
  }
}

export const createCamera: HandlerFactory = (ctx) => async (req, res) => {
  // The new camera would be outside a limited admin's list at once: adding is for unlimited admins.
  if (req.principal?.cameras !== undefined) {
    throw new ProblemError('FORBIDDEN', { detail: 'adding cameras needs a user or token without a camera list' });
  }
  const body = req.body as Required<Pick<CameraBody, 'id' | 'url' | 'username' | 'password'>> & CameraBody;
  const config: CameraConfig = {
    id: body.id,
    baseUrl: baseUrlOf(body.url, body.id),
    username: body.username,
    password: body.password,
    model: body.model ?? DEFAULT_MODEL,
  };
  if (typeof body.name === 'string') config.name = body.name;
  const entry = await addCamera(ctx.cameras, config);
  const summary = cameraSummary(entry, ctx.spec.basePath);
  res.status(201).setHeader('Location', String((summary.links as { self: string }).self));
  res.json(summary);
};

function changeOf(body: CameraBody, id: string, whole: boolean): CameraChange {
  const change: CameraChange = {};
  if (body.url !== undefined) change.baseUrl = baseUrlOf(body.url, id);
  if (body.username !== undefined) change.username = body.username;
  if (body.password !== undefined) change.password = body.password;
  if (body.model !== undefined || whole) change.model = body.model ?? DEFAULT_MODEL;
  if (body.name !== undefined || whole) change.name = body.name ?? null;
  return change;
}

/** PUT: the whole definition (an absent model is the default one, an absent name is removed). */
export const replaceCamera: HandlerFactory = (ctx) => async (req, res) => {
  const id = String(req.params.cameraId);
  const entry = await changeCamera(ctx.cameras, id, changeOf(req.body as CameraBody, id, true));
  res.json(cameraSummary(entry, ctx.spec.basePath));
};

/** PATCH: only the fields sent. */
export const updateCamera: HandlerFactory = (ctx) => async (req, res) => {
  const id = String(req.params.cameraId);
  const entry = await changeCamera(ctx.cameras, id, changeOf(req.body as CameraBody, id, false));
  res.json(cameraSummary(entry, ctx.spec.basePath));
};

export const deleteCamera: HandlerFactory = (ctx) => async (req: Request, res) => {
  const { entry, persisted } = await removeCamera(ctx.cameras, String(req.params.cameraId));
  res.json({ id: entry.id, removed: true, persisted });
};

export const cameraHandlers: Record<string, HandlerFactory> = { listCameras, getCamera, createCamera, replaceCamera, updateCamera, deleteCamera };
