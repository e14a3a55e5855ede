// Finder sessions as paginated collections (design.md §4 Finders): the camera's media file finder
// (vendor §4.11.5) and log finder (§4.13.1). The camera holds only a few finders and never frees
// one by itself, so the gateway owns every session it opens: it closes it after the last page, on
// any error, timeout or client abort, reaps sessions whose client stopped paging, retries a
// release the camera did not answer, and closes everything at shutdown.
//
// A page token is a random handle to server-side state (camera, finder id, owner, last use); it
// is good for one request, and only for the user and camera it was issued to.
import { randomBytes } from 'node:crypto';
import type { Request } from 'express';
import type { Camera, CallOptions } from '../cgi/camera.ts';
import { parseKeyValue, toParams, typeBySchema, type CgiNode } from '../cgi/codec.ts';
import { buildQuery } from '../cgi/query.ts';
import type { CameraRegistry } from '../../gateway/cameras.ts';
import { isProblem, ProblemError, type ProblemCode } from '../../gateway/problems.ts';
import type { CgiStep, JsonObject, LoadedSpec, Operation } from '../../gateway/spec.ts';
import { cameraTimeToIso, toCamera } from './formats.ts';
import type { HandlerContext, HandlerFactory } from './handlers.ts';
import type { OperationHandler } from './translator.ts';

type Params = Array<[string, string]>;
type Warn = (details: object, message: string) => void;

export interface FinderOptions {
  /** A session whose client has not asked for the next page for this long is closed on the camera. */
  idleTtlMs: number;
  /** Sessions per camera; to open one more, the least recently used idle one is closed. */
  maxPerCamera: number;
  /** Tries to release a finder the camera did not answer (timeout, unreachable) before giving up. */
  releaseAttempts: number;
}

const DEFAULT_OPTIONS: FinderOptions = { idleTtlMs: 60_000, maxPerCamera: 8, releaseAttempts: 6 };

/** findNextFile / doFind: "The maximum value of fileCount/logCount is 100". */
const MAX_COUNT = 100;
const DEFAULT_PAGE_SIZE = 100;
/** The search range when the client gives none: everything a camera clock can hold. */
const DEFAULT_START = '2000-01-01T00:00:00';
const DEFAULT_END = '2037-12-31T23:59:59';

/** Failures after which the camera may still hold the finder: its release is tried again later. */
const UNANSWERED: ReadonlySet<ProblemCode> = new Set(['CAMERA_TIMEOUT', 'CAMERA_UNREACHABLE', 'CAMERA_BUSY', 'CAMERA_LOCKED_OUT', 'CAMERA_AUTH_FAILED']);

function unanswered(err: unknown): boolean {
  return !isProblem(err) || (err.cameraErrorId === undefined && UNANSWERED.has(err.code));
}

// ------------------------------------------------------------------ the two finder protocols

interface FinderProtocol {
  kind: 'recordings' | 'logs';
  path: string;
  /** Every action of the session, which the operation's x-cgi must name. */
  actions: string[];
  /** The action whose x-cgi args carry the search conditions. */
  conditionAction: string;
  itemSchema: string;
  /** Opens a session; null when the camera found nothing and holds no finder. */
  create(camera: Camera, conditions: Params): Promise<string | null>;
  /** Gives the session its conditions; false when nothing matches (the finder is held all the same). */
  arm(camera: Camera, id: string, conditions: Params, opts: CallOptions): Promise<boolean>;
  next(id: string, count: number): Params;
  /** The calls that free the finder, in order. */
  release(id: string): Params[];
  toItem(raw: JsonObject, ctx: ItemContext): JsonObject;
}

interface ItemContext {
  spec: LoadedSpec;
  schema: JsonObject;
  warnings: string[];
  /** Item keys the vendor document does not describe: logged once per page, not answered. */
  unknown: Set<string>;
  pointer: string;
}

const MEDIA = '/cgi-bin/mediaFileFind.cgi';
const LOG = '/cgi-bin/log.cgi';

function oneValue(text: string, key: string, what: string): string {
  const value = parseKeyValue(text).doc[key];
  if (typeof value !== 'string') throw new ProblemError('CAMERA_PROTOCOL_ERROR', { detail: `the camera's answer has no ${what}` });
  return value.trim();
}

const mediaFinder: FinderProtocol = {
  kind: 'recordings',
  path: MEDIA,
  actions: ['factory.create', 'findFile', 'findNextFile', 'close', 'destroy'],
  conditionAction: 'findFile',
  itemSchema: '#/components/schemas/RecordingItem',
  async create(camera) {
    // The document prints `result= 2086170840` (a space after `=`) and ids with leading zeros (08137): kept as text.
    const id = oneValue(await camera.call(MEDIA, [['action', 'factory.create']]), 'result', 'finder object id');
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(id)) throw new ProblemError('CAMERA_PROTOCOL_ERROR', { detail: 'the camera answered a finder id the gateway cannot use' });
    return id;
  },
  async arm(camera, id, conditions, opts) {
    try {
      await camera.call(MEDIA, [['action', 'findFile'], ['object', id], ...conditions], opts);
      return true;
    } catch (err) {
      // "If files exist, return OK, else return Error": a refusal here means no match.
      if (isProblem(err) && err.code === 'CAMERA_REJECTED') return false;
      throw err;
    }
  },
  next: (id, count) => [['action', 'findNextFile'], ['object', id], ['count', String(count)]],
  release: (id) => [[['action', 'close'], ['object', id]], [['action', 'destroy'], ['object', id]]],
  toItem(raw, ctx) {
    const item = renamed(raw, RECORDING_FIELDS, ctx);
    for (const key of ['startTime', 'endTime']) isoTime(item, key, ctx);
    const typed = typeBySchema(item as CgiNode, ctx.schema, ctx.spec.resolveRef, ctx.warnings, ctx.pointer) as JsonObject;
    // The camera's Channel counts from 0 (condition.Channel - 1); the API counts from 1.
    if (typeof typed.channel === 'number') typed.channel += 1;
    return typed;
  },
};

const logFinder: FinderProtocol = {
  kind: 'logs',
  path: LOG,
  actions: ['startFind', 'doFind', 'stopFind'],
  conditionAction: 'startFind',
  itemSchema: '#/components/schemas/LogItem',
  async create(camera, conditions) {
    const token = oneValue(await camera.call(LOG, [['action', 'startFind'], ...conditions]), 'token', 'finder token');
    if (!/^-?\d{1,10}$/.test(token)) throw new ProblemError('CAMERA_PROTOCOL_ERROR', { detail: 'the camera answered a finder token the gateway cannot use' });
    // "If token is greater than 0, logs are found; otherwise no logs are found."
    return Number(token) > 0 ? token : null;
  },
  arm: async () => true,
  next: (id, count) => [['action', 'doFind'], ['token', id], ['count', String(count)]],
  release: (id) => [[['action', 'stopFind'], ['token', id]]],
  toItem(raw, ctx) {
    const item = renamed(raw, LOG_FIELDS, ctx);
    isoTime(item, 'time', ctx);
    const detail = item.detail;
    if (detail !== undefined) {
      // The camera's own keys, nested ones joined with dots: Detail.A.B=x → { "A.B": "x" }.
      item.detail = typeof detail === 'string' ? { Detail: detail } : Object.fromEntries(toParams(detail));
    }
    return typeBySchema(item as CgiNode, ctx.schema, ctx.spec.resolveRef, ctx.warnings, ctx.pointer) as JsonObject;
  },
};

const RECORDING_FIELDS: Record<string, string> = {
  Channel: 'channel', StartTime: 'startTime', EndTime: 'endTime', Type: 'type', Events: 'events', Flags: 'flags',
  VideoStream: 'videoStream', FilePath: 'filePath', Length: 'length', Duration: 'duration',
};
const LOG_FIELDS: Record<string, string> = { RecNo: 'recNo', Time: 'time', Type: 'type', User: 'user', Detail: 'detail' };

/** The camera's item keys as the API's. */
function renamed(raw: JsonObject, fields: Record<string, string>, ctx: ItemContext): JsonObject {
  const item: JsonObject = {};
  for (const [key, value] of Object.entries(raw)) {
    const name = Object.hasOwn(fields, key) ? fields[key] : undefined;
    if (name === undefined) {
      if (ctx.unknown.size < 20) ctx.unknown.add(key);
    } else {
      item[name] = value;
    }
  }
  return item;
}

function isoTime(item: JsonObject, key: string, ctx: ItemContext): void {
  const value = item[key];
  if (typeof value !== 'string') return;
  try {
    item[key] = cameraTimeToIso(value);
  } catch {
    ctx.warnings.push(`${ctx.pointer}/${key}: not a time the gateway can read, camera sent '${value.slice(0, 64)}'`);
  }
}

/** The `items[n]` of a findNextFile / doFind answer. */
function itemsOf(text: string, warnings: string[]): JsonObject[] {
  const { doc, warnings: parseWarnings } = parseKeyValue(text);
  warnings.push(...parseWarnings);
  const items = doc.items;
  if (items === undefined) {
    if (typeof doc.found === 'string') return [];
    throw new ProblemError('CAMERA_PROTOCOL_ERROR', { detail: 'the camera answered neither found nor items' });
  }
  if (!Array.isArray(items)) throw new ProblemError('CAMERA_PROTOCOL_ERROR', { detail: 'the camera answered items that are not a list' });
  const found = typeof doc.found === 'string' ? Number(doc.found.trim()) : undefined;
  const present = items.filter((i): i is { [key: string]: CgiNode } => i !== null && typeof i === 'object' && !Array.isArray(i));
  if (found !== present.length) warnings.push(`the camera said found=${String(doc.found)} and sent ${present.length} items`);
  return present as JsonObject[];
}

/** One findNextFile / doFind answer as API items (the vendor's example answers are tested with this). */
export function finderItems(kind: FinderProtocol['kind'], text: string, spec: LoadedSpec): { items: JsonObject[]; warnings: string[] } {
  const protocol = kind === 'recordings' ? mediaFinder : logFinder;
  const ctx: ItemContext = { spec, schema: spec.resolveRef(protocol.itemSchema), warnings: [], unknown: new Set(), pointer: '' };
  const items = itemsOf(text, ctx.warnings).map((raw, i) => protocol.toItem(raw, { ...ctx, pointer: `/items/${i}` }));
  if (ctx.unknown.size > 0) ctx.warnings.push(`fields the document does not describe: ${[...ctx.unknown].join(', ')}`);
  return { items, warnings: ctx.warnings };
}

// ------------------------------------------------------------------ sessions

interface Finder {
  protocol: FinderProtocol;
  camera: Camera;
  cameraId: string;
  id: string;
}

interface Cursor {
  finder: Finder;
  owner: string;
  lastUsed: number;
  /** Items read from the camera and not answered yet: reading one past the page tells whether more remain. */
  buffer: JsonObject[];
  exhausted: boolean;
  released: boolean;
}

interface PendingRelease {
  finder: Finder;
  attempts: number;
  dueAt: number;
  running: boolean;
}

export class FinderSessions {
  readonly options: FinderOptions = { ...DEFAULT_OPTIONS };
  private readonly parked = new Map<string, Cursor>();
  private readonly inUse = new Set<Cursor>();
  private pending: PendingRelease[] = [];
  private readonly releasing = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private closing = false;

  constructor(public warn: Warn) {}

  /** Sessions held (idle and in use) and releases still to retry: what the camera may hold. */
  get size(): { open: number; pendingReleases: number } {
    return { open: this.parked.size + this.inUse.size, pendingReleases: this.pending.length };
  }

  /** Makes room for one more session on a camera before its finder is created. */
  admit(cameraId: string): void {
    if (this.closing) throw new ProblemError('NOT_READY', { detail: 'the gateway is shutting down' });
    const mine = [...this.parked.entries()].filter(([, c]) => c.finder.cameraId === cameraId);
    const busy = [...this.inUse].filter((c) => c.finder.cameraId === cameraId).length;
    if (mine.length + busy < this.options.maxPerCamera) return;
    if (mine.length === 0) throw new ProblemError('CAMERA_BUSY', { detail: 'too many searches are running on this camera', retryAfter: 1 });
    const [token, oldest] = mine.reduce((a, b) => (b[1].lastUsed < a[1].lastUsed ? b : a));
    this.parked.delete(token);
    void this.finish(oldest);
  }

  open(finder: Finder, owner: string): Cursor {
    const cursor: Cursor = { finder, owner, lastUsed: Date.now(), buffer: [], exhausted: false, released: false };
    this.inUse.add(cursor);
    return cursor;
  }

  /** The session of a page token, for its owner on its camera only; the token is used up. */
  take(token: string, kind: FinderProtocol['kind'], cameraId: string, owner: string): Cursor {
    const cursor = this.parked.get(token);
    // One answer for unknown, expired, used, another user's and another camera's tokens: a token reveals nothing.
    if (!cursor || cursor.owner !== owner || cursor.finder.cameraId !== cameraId || cursor.finder.protocol.kind !== kind) {
      throw new ProblemError('NOT_FOUND', { detail: 'no such page: the page token is unknown, expired or already used' });
    }
    this.parked.delete(token);
    this.inUse.add(cursor);
    return cursor;
  }

  /** Keeps a session for its next page; answers the token for it. */
  park(cursor: Cursor, token: string = randomBytes(24).toString('base64url')): string {
    if (this.closing || cursor.released) {
      void this.finish(cursor);
      throw new ProblemError('NOT_READY', { detail: 'the gateway is shutting down' });
    }
    this.inUse.delete(cursor);
    cursor.lastUsed = Date.now();
    this.parked.set(token, cursor);
    this.schedule();
    return token;
  }

  /** Frees the session's finder on the camera. Never throws; what the camera did not answer is retried later. */
  finish(cursor: Cursor): Promise<void> {
    this.inUse.delete(cursor);
    if (cursor.released) return Promise.resolve();
    cursor.released = true;
    return this.release(cursor.finder, 0);
  }

  private release(finder: Finder, attempts: number): Promise<void> {
    const run = (async () => {
      try {
        for (const params of finder.protocol.release(finder.id)) {
          try {
            await finder.camera.call(finder.protocol.path, params);
          } catch (err) {
            if (unanswered(err)) throw err;
            // The camera answered Error: it no longer knows the finder (already closed, or reaped by itself).
          }
        }
      } catch (err) {
        if (this.closing || attempts + 1 >= this.options.releaseAttempts) {
          this.warn({ camera: finder.cameraId, finder: finder.protocol.kind, code: isProblem(err) ? err.code : 'INTERNAL' }, 'could not release a camera finder');
          return;
        }
        this.pending.push({ finder, attempts: attempts + 1, dueAt: Date.now() + this.interval() * 2 ** attempts, running: false });
        this.schedule();
      }
    })();
    this.releasing.add(run);
    void run.finally(() => this.releasing.delete(run));
    return run;
  }

  private interval(): number {
    return Math.min(5_000, Math.max(20, Math.floor(this.options.idleTtlMs / 4)));
  }

  private schedule(): void {
    if (this.timer !== undefined || this.closing) return;
    this.timer = setInterval(() => this.reap(), this.interval());
    // Sessions never keep the process alive; shutdown closes them explicitly.
    this.timer.unref();
  }

  /** Closes sessions idle past their TTL and retries releases that are due. */
  reap(now: number = Date.now()): void {
    for (const [token, cursor] of this.parked) {
      if (now - cursor.lastUsed < this.options.idleTtlMs) continue;
      this.parked.delete(token);
      void this.finish(cursor);
    }
    const due = this.pending.filter((p) => !p.running && p.dueAt <= now);
    for (const p of due) {
      p.running = true;
      void this.release(p.finder, p.attempts).finally(() => {
        this.pending = this.pending.filter((x) => x !== p);
      });
    }
    if (this.parked.size === 0 && this.pending.length === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** A camera removed or reconfigured: its sessions are released now; their page tokens are gone. */
  async closeCamera(cameraId: string): Promise<void> {
    const cursors: Cursor[] = [];
    for (const [token, cursor] of this.parked) {
      if (cursor.finder.cameraId !== cameraId) continue;
      this.parked.delete(token);
      cursors.push(cursor);
    }
    for (const cursor of this.inUse) if (cursor.finder.cameraId === cameraId) cursors.push(cursor);
    this.pending = this.pending.filter((p) => p.finder.cameraId !== cameraId);
    await Promise.all(cursors.map((c) => this.finish(c)));
  }

  /** Gateway shutdown: releases every session and pending release once, then refuses new ones. */
  async closeAll(): Promise<void> {
    this.closing = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    const cursors = [...this.parked.values(), ...this.inUse];
    this.parked.clear();
    const pending = this.pending.filter((p) => !p.running);
    this.pending = [];
    await Promise.all([
      ...cursors.map((c) => this.finish(c)),
      ...pending.map((p) => this.release(p.finder, p.attempts)),
      ...this.releasing,
    ]);
  }
}

const registries = new WeakMap<CameraRegistry, FinderSessions>();

/** The sessions of one gateway (one camera registry). */
export function finderSessions(cameras: CameraRegistry, warn?: Warn): FinderSessions {
  let sessions = registries.get(cameras);
  if (!sessions) {
    sessions = new FinderSessions(warn ?? (() => {}));
    registries.set(cameras, sessions);
  } else if (warn !== undefined) {
    sessions.warn = warn;
  }
  return sessions;
}

/** Tuning (tests use a short idle TTL). */
export function configureFinders(cameras: CameraRegistry, options: Partial<FinderOptions>): void {
  Object.assign(finderSessions(cameras).options, options);
}

/** For a camera removed or changed at run time, before its client closes. */
export async function closeCameraFinders(cameras: CameraRegistry, cameraId: string): Promise<void> {
  await registries.get(cameras)?.closeCamera(cameraId);
}

/** For gateway shutdown, before the camera clients close: closes and destroys every finder the gateway holds. */
export async function closeAllFinders(cameras: CameraRegistry): Promise<void> {
  await registries.get(cameras)?.closeAll();
}

// ------------------------------------------------------------------ the handlers

/** The condition parameters of the first request, from the x-cgi args of the step that carries them. */
function conditionParams(step: CgiStep, req: Request, arrays: Set<string>): Params {
  const defaults: Record<string, string> = { channel: '1', startTime: DEFAULT_START, endTime: DEFAULT_END };
  const params: Params = [];
  for (const arg of step.args ?? []) {
    const name = arg.from.slice('query.'.length);
    let value: unknown = req.query[name] ?? defaults[name];
    if (value === undefined) continue;
    // The query parser gives a lone value of a repeatable parameter as a string.
    if (arrays.has(name) && !Array.isArray(value)) value = [value];
    params.push(...toParams(toCamera(arg.format, value, `/query/${name}`), arg.param));
  }
  return params;
}

function checkRange(req: Request): void {
  const start = typeof req.query.startTime === 'string' ? req.query.startTime : DEFAULT_START;
  const end = typeof req.query.endTime === 'string' ? req.query.endTime : DEFAULT_END;
  // Both have the fixed-width ISO shape (the document's pattern): text order is time order.
  if (end < start) {
    throw new ProblemError('VALIDATION_FAILED', { errors: [{ pointer: '/query/endTime', message: 'must not be before startTime' }] });
  }
}

function finderHandler(protocol: FinderProtocol, ctx: HandlerContext, op: Operation): OperationHandler {
  // Checked at start: the document names every step the handler sends.
  for (const action of protocol.actions) {
    const step = op.cgi.find((s) => s.action === action);
    if (!step || step.path !== protocol.path) throw new Error(`${op.operationId}: x-cgi must name ${protocol.path} ${action}`);
  }
  const conditionStep = op.cgi.find((s) => s.action === protocol.conditionAction)!;
  for (const arg of conditionStep.args ?? []) {
    if (!/^query\.[A-Za-z0-9_]+$/.test(arg.from)) throw new Error(`${op.operationId}: finder conditions come from the query, not ${arg.from}`);
  }
  const arrays = new Set(
    op.parameters
      .map((p) => (typeof p.$ref === 'string' ? ctx.spec.resolveRef(p.$ref) : p))
      .filter((p) => (p.schema as JsonObject | undefined)?.type === 'array')
      .map((p) => String(p.name)),
  );
  const itemSchema = ctx.spec.resolveRef(protocol.itemSchema);

  return async (req, res) => {
    const sessions = finderSessions(ctx.cameras, ctx.warn);
    const cameraId = String(req.params.cameraId);
    const entry = ctx.cameras.get(cameraId);
    if (!entry) throw new ProblemError('NOT_FOUND', { detail: `no camera ${cameraId}` });
    const principal = req.principal;
    const owner = principal ? `${principal.via}:${principal.name}` : '';
    const pageSize = req.query.pageSize === undefined ? DEFAULT_PAGE_SIZE : Number(req.query.pageSize);
    const token = typeof req.query.pageToken === 'string' ? req.query.pageToken : undefined;

    // Everything about the request is checked before the first camera call.
    let cursor: Cursor | undefined;
    let conditions: Params = [];
    if (token !== undefined) {
      cursor = sessions.take(token, protocol.kind, cameraId, owner);
    } else {
      checkRange(req);
      conditions = conditionParams(conditionStep, req, arrays);
      buildQuery(conditions);
      sessions.admit(cameraId);
    }

    const abort = new AbortController();
    const onClose = () => {
      if (!res.writableFinished) abort.abort();
    };
    res.on('close', onClose);
    const warnings: string[] = [];
    const unknown = new Set<string>();
    try {
      if (!cursor) {
        // Not tied to the client: once the camera has made a finder, the gateway must learn its id to free it.
        const id = await protocol.create(entry.camera, conditions);
        if (id === null) {
          res.status(200).json({ items: [] });
          return;
        }
        cursor = sessions.open({ protocol, camera: entry.camera, cameraId, id }, owner);
        if (abort.signal.aborted) throw new ProblemError('CAMERA_TIMEOUT', { detail: 'the client went away' });
        if (!(await protocol.arm(entry.camera, id, conditions, { signal: abort.signal }))) cursor.exhausted = true;
      }
      // Read one item past the page: then nextPageToken is given only when more remain.
      while (!cursor.exhausted && cursor.buffer.length <= pageSize) {
        const count = Math.min(MAX_COUNT, pageSize + 1 - cursor.buffer.length);
        const text = await entry.camera.call(protocol.path, protocol.next(cursor.finder.id, count), { signal: abort.signal });
        const raws = itemsOf(text, warnings);
        if (raws.length === 0) cursor.exhausted = true;
        for (const raw of raws) {
          const pointer = `/items/${cursor.buffer.length}`;
          cursor.buffer.push(protocol.toItem(raw, { spec: ctx.spec, schema: itemSchema, warnings, unknown, pointer }));
        }
      }
      const body: JsonObject = { items: cursor.buffer.splice(0, pageSize) };
      if (cursor.buffer.length > 0 || !cursor.exhausted) body.nextPageToken = sessions.park(cursor);
      else await sessions.finish(cursor);
      if (unknown.size > 0) warnings.push(`items have fields the document does not describe (not answered): ${[...unknown].join(', ')}`);
      if (warnings.length > 0) ctx.warn({ operationId: op.operationId, warnings: warnings.slice(0, 20) }, 'camera answer did not fit the schema');
      res.status(200).json(body);
    } catch (err) {
      if (cursor && !cursor.released) {
        if (token !== undefined && isProblem(err) && (err.code === 'CAMERA_BUSY' || err.code === 'CAMERA_LOCKED_OUT')) {
          // The camera did not take the call (queue full, login suspended): the session is as it
          // was, so the same token may be retried after Retry-After.
          sessions.park(cursor, token);
        } else {
          const done = sessions.finish(cursor);
          // The camera answered: free its finder before answering, so the client never sees it held.
          // A camera in trouble (or a client gone) is not waited for; the release is retried later.
          if (!unanswered(err) && !abort.signal.aborted) await done;
        }
      }
      throw err;
    } finally {
      res.off('close', onClose);
    }
  };
}

export const mediaFileFind: HandlerFactory = (ctx, op) => finderHandler(mediaFinder, ctx, op);
export const logFind: HandlerFactory = (ctx, op) => finderHandler(logFinder, ctx, op);
