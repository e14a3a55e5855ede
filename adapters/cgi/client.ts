// The camera HTTP client: keep-alive undici connections per camera (connections.ts), the
// per-camera scheduler, HTTP Digest/Basic with a nonce pool, a login breaker, and the one retry
// that is safe (design.md §4).
//
// Auth in one paragraph. The first call learns the scheme from a 401. Afterwards every request
// carries credentials. Digest nonces live in a small pool of states; a state is used by one
// request at a time with nc counting up, so a strict camera never sees nc out of order. A call
// takes an idle state, or, when none is idle, sends its request once unauthenticated and adopts
// the nonce of the 401 (that is the only extra round trip in steady state). Until the
// credentials have been accepted once ("proven"), one call at a time may try them; a 401 to
// credentials computed from a fresh challenge is then a genuine failure, and two open the
// breaker. After they are proven, a 401 is first suspected to be a connection shortage (these
// cameras answer 401 to connections over their cap): the call closes the connection that was
// refused, lowers the connection budget and in-flight limit to what was getting through, and
// retries once on a connection the camera already serves (so after the in-flight count drops),
// as the only one trying. A second refusal confirms the failure (counted twice: the breaker opens).

import { Client, type Dispatcher } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import { ProblemError } from '../../gateway/problems.ts';
import { AuthBreaker, type BreakerOptions, type BreakerState, type LoginBudget } from './breaker.ts';
import {
  basicAuthorization, digestAuthorization, parseAuthenticationInfo, parseChallenge,
  type AuthChallenge, type DigestChallenge,
} from './digest.ts';
import { transportError } from './errors.ts';
import { ConnectionSet, type Connection } from './connections.ts';
import { Scheduler, type Release } from './scheduler.ts';

export interface CameraClientOptions {
  baseUrl: string; username: string; password: string;
  maxConnections?: number;      // 4
  maxInFlight?: number;         // 3
  queueLimit?: number;          // 64; overflow → CAMERA_BUSY with retryAfter
  connectTimeoutMs?: number;    // 3000
  requestTimeoutMs?: number;    // 6000 (CGI); callers may pass a longer one (snapshot 10 s)
  logger?: { debug(o: object, m?: string): void; warn(o: object, m?: string): void };
  // Additions to the contract (tests and tuning):
  breaker?: BreakerOptions;     // threshold 2, cool-down 30 s doubling to 300 s, injectable clock
  now?: () => number;           // clock for the breaker and the connection-limit recovery
  /** After a connection shortage lowered the in-flight limit, raise it by one after this quiet time. */
  limitRecoveryMs?: number;     // 30_000
  /**
   * The camera counts refusals per source address, not per client: a client that replaces
   * another for the same camera (new credentials at run time) shares its budget.
   */
  loginBudget?: LoginBudget;
}

export interface CgiRequest {
  path: string; query: string; read: boolean; timeoutMs?: number; signal?: AbortSignal;
  /** The controller of `signal`, aborted by this call's deadline too instead of a second one linked to it (one per request). */
  controller?: AbortController;
}
export type CgiHeaders = Record<string, string | string[] | undefined>;
export interface CgiResponse { status: number; headers: CgiHeaders; body: string }
export interface CgiStreamResponse { status: number; headers: CgiHeaders; body: NodeJS.ReadableStream }

/** A long-lived stream (event attach, MJPEG, real-time media): its own connection, no scheduler slot. */
export interface CgiLongStreamRequest {
  path: string;
  query: string;
  /** Ends the stream (before or after the answer's headers). */
  signal?: AbortSignal;
  /** Time allowed until the answer's headers (6000). */
  timeoutMs?: number;
  /** The body fails when nothing arrives for this long; 0 = never (the caller watches). Default 0. */
  idleTimeoutMs?: number;
}
export interface CgiLongStream extends CgiStreamResponse {
  /** Ends the stream and closes its connection; safe to call more than once. */
  close(): void;
}

export interface CameraClientStats {
  requests: number;        // HTTP requests sent
  authRoundTrips: number;  // 401 answers received
  retries: number;         // read retries after a connection failure or a 503
  authFailures: number;    // genuine credential failures (what the breaker counts)
}

/** Reads are safe to repeat; decided by the action name, never by the HTTP method. */
export function isReadAction(action: string): boolean {
  return /^(factory\.)?get/.test(action);
}

type Scheme = 'unknown' | 'none' | 'basic' | 'digest';

interface NonceState {
  ch: DigestChallenge;
  nc: number;
  /** Taken from a 401 and not used yet: a refusal of it is about the credentials, not the nonce. */
  fresh: boolean;
}

interface Call {
  uri: string;
  path: string;
  action: string;
  read: boolean;
  timeoutMs: number;
  callerSignal: AbortSignal | undefined;
  controller: AbortController;
  timer: NodeJS.Timeout | undefined;
  timedOut: boolean;
  /** Detaches the caller's signal from this call. */
  unlink: (() => void) | undefined;
  held: NonceState | null;
  /** Drop `held` at the end instead of returning it to the pool (its fate at the camera is unknown). */
  discardNonce: boolean;
  entrant: boolean;
  token: boolean;
  /** The connection carrying this call's unread answer, and the one that carried the last answer. */
  conn: Connection | null;
  lastConn: Connection | null;
  /** A long-lived stream's own connection (openStream): never the pool's. */
  dedicated: Connection | null;
  /** Body idle timeout for this call's answers (the call's timeout when unset). */
  bodyTimeoutMs: number | undefined;
}

// Thrown by send() when no answer arrived at all: the only failures a read may be retried for.
class NoAnswer extends Error {
  constructor(readonly original: unknown) { super('no answer'); }
}

// A CGI text answer is a few kB (a whole config dump a few hundred); anything near this is broken
// or hostile firmware, refused before it is buffered whole. Downloads go through stream().
export const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

async function readCapped(body: Dispatcher.ResponseData['body'], cap: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > cap) {
      body.destroy();
      throw new ProblemError('CAMERA_PROTOCOL_ERROR', { detail: `The camera answer exceeds ${cap} bytes` });
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

const RETRYABLE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ECONNABORTED', 'UND_ERR_SOCKET']);
const MAX_ROUNDS = 6;
// When the refused connection was our only one, other clients hold the camera's connections.
const SHORTAGE_ALONE_WAIT_MS = 150;

function errorCode(err: unknown): string | undefined {
  let cur: unknown = err;
  for (let i = 0; i < 6 && typeof cur === 'object' && cur !== null; i++) {
    const { code, cause } = cur as { code?: unknown; cause?: unknown };
    if (typeof code === 'string') return code;
    cur = cause;
  }
  return undefined;
}

function actionOf(query: string): string {
  const m = /(?:^|&)action=([^&]*)/.exec(query);
  if (!m) return '';
  try { return decodeURIComponent(m[1]!); } catch { return m[1]!; }
}

async function drain(res: Dispatcher.ResponseData): Promise<void> {
  try { await res.body.dump({ limit: 64 * 1024 }); } catch { /* the connection is closed instead */ }
}

/** A promise that settles on the next notify(); lets waiters re-check shared state. */
class Changed {
  private waiters: Array<() => void> = [];
  notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  wait(signal: AbortSignal | undefined, timeoutMs?: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) { reject(signal.reason); return; }
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        this.waiters = this.waiters.filter((f) => f !== done);
        reject(signal!.reason);
      };
      this.waiters.push(done);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => { this.waiters = this.waiters.filter((f) => f !== done); done(); }, timeoutMs);
      }
    });
  }
}

let clientIds = 0;

export class CameraClient {
  readonly stats: CameraClientStats = { requests: 0, authRoundTrips: 0, retries: 0, authFailures: 0 };
  readonly breaker: AuthBreaker;
  private readonly id = ++clientIds;
  readonly logger: NonNullable<CameraClientOptions['logger']> | undefined;

  private readonly origin: string;
  private readonly prefix: string;
  private readonly conns: ConnectionSet;
  private readonly scheduler: Scheduler;
  private readonly username: string;
  private readonly password: string;
  private readonly requestTimeoutMs: number;
  private readonly maxInFlight: number;
  private readonly maxConnections: number;
  private readonly limitRecoveryMs: number;
  private readonly now: () => number;

  private scheme: Scheme = 'unknown';
  private proven = false;
  private readonly idle: NonceState[] = [];
  private entrants = 0;            // calls admitted while the credentials were not proven
  private entryEpoch = 0;
  private entryFailure: ProblemError | null = null;
  private tokenHolder: Call | null = null;
  private readonly authChanged = new Changed();
  private lastShortage = 0;
  private closed = false;
  private readonly connectTimeoutMs: number;
  private readonly streams = new Set<Client>();
  private streamIds = 0;
  private last: { code: string; detail: string | undefined; at: string } | undefined;
  private lastOk: string | undefined;
  // Calls past admission and the queue, so that close(reason) can end them.
  private readonly live = new Set<Call>();
  private closeReason = new ProblemError('CAMERA_UNREACHABLE', { detail: 'The camera client is closed' });

  constructor(options: CameraClientOptions) {
    const url = new URL(options.baseUrl);
    // Credentials never ride in the URL (they would end up in logs); options carry them.
    this.origin = url.origin;
    this.prefix = url.pathname.replace(/\/+$/, '');
    this.username = options.username;
    this.password = options.password;
    this.logger = options.logger;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 6_000;
    this.maxInFlight = Math.max(1, options.maxInFlight ?? 3);
    this.maxConnections = Math.max(1, options.maxConnections ?? 4);
    this.limitRecoveryMs = options.limitRecoveryMs ?? 30_000;
    this.now = options.now ?? options.breaker?.now ?? Date.now;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 3_000;
    this.breaker = new AuthBreaker({ now: this.now, ...options.breaker }, options.loginBudget);
    this.scheduler = new Scheduler(this.maxInFlight, options.queueLimit ?? 64);
    this.conns = new ConnectionSet(this.origin, {
      connect: { timeout: options.connectTimeoutMs ?? 3_000 },
      pipelining: 1,
      keepAliveTimeout: 4_000,
      headersTimeout: this.requestTimeoutMs,
      bodyTimeout: this.requestTimeoutMs,
    }, this.maxConnections);
  }

  /** Current in-flight limit (lower than maxInFlight after a connection shortage). */
  get inFlightLimit(): number { return this.scheduler.limit; }

  /** Calls holding a slot now, and calls waiting in the queue (for health views and metrics). */
  get inFlight(): number { return this.scheduler.inFlight; }
  get queued(): number { return this.scheduler.queued; }

  /** The last error a call ended with (catalog code and our own detail text only), for health views. */
  get lastError(): { code: string; detail: string | undefined; at: string } | undefined {
    return this.last;
  }

  /** When a call last got an answer from the camera (any HTTP answer past auth), for health views. */
  get lastSuccess(): string | undefined {
    return this.lastOk;
  }

  private succeeded<T>(value: T): T {
    this.lastOk = new Date(this.now()).toISOString();
    return value;
  }

  async request(req: CgiRequest): Promise<CgiResponse> {
    try {
      return this.succeeded(await this.requestOnce(req));
    } catch (err) {
      throw this.remember(err);
    }
  }

  /** Like request(), but hands over the body as a stream; the slot is held until it ends. */
  async stream(req: CgiRequest): Promise<CgiStreamResponse> {
    try {
      return this.succeeded(await this.streamOnce(req));
    } catch (err) {
      throw this.remember(err);
    }
  }

  private remember(err: unknown): unknown {
    if (err instanceof ProblemError) this.last = { code: err.code, detail: err.detail, at: new Date(this.now()).toISOString() };
    return err;
  }

  private async requestOnce(req: CgiRequest): Promise<CgiResponse> {
    const call = this.newCall(req);
    await this.enter(call);
    let release: Release | undefined;
    try {
      release = await this.scheduler.acquire({ signal: req.signal, maxWaitMs: call.timeoutMs });
      this.startDeadline(call);
      const res = await this.perform(call);
      let body: string;
      try {
        body = await readCapped(res.body, MAX_ANSWER_BYTES);
      } catch (err) {
        throw this.failure(call, err);
      } finally {
        this.offWire(call);
      }
      return { status: res.statusCode, headers: res.headers as CgiHeaders, body };
    } catch (err) {
      this.shareEntrantFailure(call, err);
      throw err;
    } finally {
      this.finish(call);
      release?.();
    }
  }

  private async streamOnce(req: CgiRequest): Promise<CgiStreamResponse> {
    const call = this.newCall(req);
    await this.enter(call);
    let release: Release | undefined;
    let handedOver = false;
    try {
      release = await this.scheduler.acquire({ signal: req.signal, maxWaitMs: call.timeoutMs });
      this.startDeadline(call);
      const res = await this.perform(call);
      // From here the body's idle timeout (bodyTimeout) and the caller's signal govern.
      if (call.timer !== undefined) clearTimeout(call.timer);
      const rel = release;
      this.whenBodyDone(call, res.body, rel);
      handedOver = true;
      return { status: res.statusCode, headers: res.headers as CgiHeaders, body: res.body };
    } catch (err) {
      this.shareEntrantFailure(call, err);
      throw err;
    } finally {
      if (!handedOver) {
        this.finish(call);
        release?.();
      }
    }
  }

  /**
   * A long-lived stream on a connection of its own, outside the pool and the scheduler (an event
   * attach or a media stream must not hold one of the in-flight slots for hours). Auth, nonces
   * and the breaker are the same as for request(); no retries: the caller decides when to reopen.
   */
  async openStream(req: CgiLongStreamRequest): Promise<CgiLongStream> {
    try {
      return this.succeeded(await this.openStreamOnce(req));
    } catch (err) {
      throw this.remember(err);
    }
  }

  private async openStreamOnce(req: CgiLongStreamRequest): Promise<CgiLongStream> {
    const call = this.newCall({ path: req.path, query: req.query, read: false, timeoutMs: req.timeoutMs, signal: req.signal });
    const idle = req.idleTimeoutMs ?? 0;
    call.bodyTimeoutMs = idle;
    const client = new Client(this.origin, {
      connect: { timeout: this.connectTimeoutMs },
      pipelining: 1,
      keepAliveTimeout: 4_000,
      headersTimeout: call.timeoutMs,
      bodyTimeout: idle,
    });
    const conn: Connection = { id: -(++this.streamIds), client, pending: 0, retired: false };
    call.dedicated = conn;
    this.streams.add(client);
    let handedOver = false;
    const destroy = (): void => {
      this.streams.delete(client);
      client.destroy().catch(() => undefined);
    };
    try {
      await this.enter(call);
      this.startDeadline(call);
      const res = await this.perform(call);
      if (call.timer !== undefined) clearTimeout(call.timer);
      // The login part is over: a stream open for hours must not keep a nonce or the admission
      // that other calls wait on while credentials are unproven.
      this.releaseAuth(call);
      const end = this.whenBodyDone(call, res.body, destroy);
      handedOver = true;
      return {
        status: res.statusCode,
        headers: res.headers as CgiHeaders,
        body: res.body,
        close: () => {
          res.body.destroy();
          end();
        },
      };
    } catch (err) {
      this.shareEntrantFailure(call, err);
      throw err;
    } finally {
      if (!handedOver) {
        this.finish(call);
        destroy();
      }
    }
  }

  /**
   * A body handed to the caller keeps its call open until it ends, fails or is destroyed; then
   * the connection, the call and `release` are given back, once. Returns that ending.
   */
  private whenBodyDone(call: Call, body: NodeJS.ReadableStream, release: () => void): () => void {
    let done = false;
    const end = (): void => {
      if (done) return;
      done = true;
      this.offWire(call);
      this.finish(call);
      release();
    };
    body.once('end', end);
    body.once('close', end);
    body.once('error', end);
    return end;
  }

  /**
   * Without `reason`, calls on the wire get up to 2 s to finish. With it (the camera was removed),
   * every call still running, queued or waiting for login ends now with that error.
   */
  async close(reason?: ProblemError): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (reason !== undefined) this.closeReason = reason;
    for (const c of this.streams) c.destroy().catch(() => undefined);
    this.streams.clear();
    this.scheduler.close(this.closeReason);
    if (reason !== undefined) for (const call of this.live) call.controller.abort(reason);
    this.authChanged.notify();
    await this.conns.close(reason === undefined ? 2_000 : 0);
  }

  private closedError(): ProblemError {
    return new ProblemError(this.closeReason.code, { detail: this.closeReason.detail });
  }

  // ---------------------------------------------------------------- call lifecycle

  private newCall(req: CgiRequest): Call {
    const query = req.query;
    return {
      uri: `${this.prefix}${req.path}${query === '' ? '' : `?${query}`}`,
      path: req.path,
      action: actionOf(query),
      read: req.read,
      timeoutMs: req.timeoutMs ?? this.requestTimeoutMs,
      callerSignal: req.signal,
      controller: req.controller !== undefined && req.controller.signal === req.signal ? req.controller : new AbortController(),
      timer: undefined,
      timedOut: false,
      unlink: undefined,
      held: null,
      discardNonce: false,
      entrant: false,
      token: false,
      conn: null,
      lastConn: null,
      dedicated: null,
      bodyTimeoutMs: undefined,
    };
  }

  private startDeadline(call: Call): void {
    const { controller, callerSignal } = call;
    this.live.add(call);
    if (callerSignal !== undefined && callerSignal !== controller.signal) {
      if (callerSignal.aborted) controller.abort(callerSignal.reason);
      else {
        const onAbort = (): void => controller.abort(callerSignal.reason);
        callerSignal.addEventListener('abort', onAbort, { once: true });
        call.unlink = () => callerSignal.removeEventListener('abort', onAbort);
      }
    }
    call.timer = setTimeout(() => {
      call.timedOut = true;
      controller.abort(new ProblemError('CAMERA_TIMEOUT', { detail: `The camera did not answer within ${call.timeoutMs} ms` }));
    }, call.timeoutMs);
  }

  private finish(call: Call): void {
    this.live.delete(call);
    if (call.timer !== undefined) clearTimeout(call.timer);
    // Not an abort: aborting a finished undici request would error a body still being read.
    call.unlink?.();
    call.unlink = undefined;
    this.releaseAuth(call);
  }

  /** Gives back the call's nonce, credential token and admission; its answer may still be streaming. */
  private releaseAuth(call: Call): void {
    if (call.held !== null) {
      const held = call.held;
      call.held = null;
      if (!call.discardNonce && held.nc < 0xfffffff0 && this.idle.length < this.maxInFlight) this.idle.push(held);
    }
    let changed = false;
    if (call.token) { call.token = false; this.tokenHolder = null; changed = true; }
    if (call.entrant) { call.entrant = false; this.entrants--; changed = true; }
    if (changed) this.authChanged.notify();
  }

  private lockedOut(): ProblemError {
    return new ProblemError('CAMERA_LOCKED_OUT', {
      detail: 'Logins to this camera are suspended after repeated authentication failures',
      retryAfter: this.breaker.retryAfterSeconds(),
    });
  }

  // Admission before the scheduler: while the credentials are unproven, one call at a time
  // enters; the others wait for its verdict without taking a queue place or touching the camera.
  private async enter(call: Call): Promise<void> {
    const epoch = this.entryEpoch;
    const giveUp = performance.now() + 2 * call.timeoutMs;
    for (;;) {
      if (this.closed) throw this.closedError();
      if (this.breaker.state === 'open') throw this.lockedOut();
      if (this.proven) return;
      // The call we waited on could not reach the camera: so can't we, right now.
      if (this.entryEpoch !== epoch && this.entryFailure !== null) {
        const f = this.entryFailure;
        throw new ProblemError(f.code, { detail: f.detail, retryAfter: f.retryAfter });
      }
      if (this.entrants === 0) {
        this.entrants++;
        call.entrant = true;
        return;
      }
      const left = giveUp - performance.now();
      if (left <= 0) throw new ProblemError('CAMERA_TIMEOUT', { detail: 'The camera login did not complete in time' });
      await this.authChanged.wait(call.callerSignal, left);
    }
  }

  // Others wait on the entrant's attempt; when it could not reach the camera they fail with it
  // instead of each trying (and timing out) in turn.
  private shareEntrantFailure(call: Call, err: unknown): void {
    if (!call.entrant || !(err instanceof ProblemError)) return;
    if (err.code === 'CAMERA_TIMEOUT' || err.code === 'CAMERA_UNREACHABLE' || err.code === 'CAMERA_PROTOCOL_ERROR') {
      this.entryFailure = err;
      this.entryEpoch++;
    }
  }

  // The right to send unproven credentials; held by a call that already has a slot, so the
  // holder never waits on anything a waiter holds.
  private async takeToken(call: Call): Promise<void> {
    for (;;) {
      if (this.proven || call.token) return;
      if (this.closed) throw this.closedError();
      if (this.breaker.state === 'open') throw this.lockedOut();
      if (this.tokenHolder === null) {
        this.tokenHolder = call;
        call.token = true;
        return;
      }
      await this.authChanged.wait(call.controller.signal);
    }
  }

  private markProven(): void {
    if (!this.proven) {
      this.proven = true;
      this.breaker.success();
      this.authChanged.notify();
    }
  }

  // ---------------------------------------------------------------- retries (reads only)

  private async perform(call: Call): Promise<Dispatcher.ResponseData> {
    for (let attempt = 0; ; attempt++) {
      let res: Dispatcher.ResponseData;
      try {
        res = await this.exchange(call);
      } catch (err) {
        if (err instanceof NoAnswer && call.read && attempt === 0 && !call.timedOut && !call.controller.signal.aborted
            && RETRYABLE_CODES.has(errorCode(err.original) ?? '')) {
          this.stats.retries++;
          this.logger?.debug({ path: call.path, action: call.action, code: errorCode(err.original) }, 'camera read retried after a connection failure');
          continue;
        }
        throw this.failure(call, err instanceof NoAnswer ? err.original : err);
      }
      if (res.statusCode === 503 && call.read && attempt === 0) {
        await drain(res);
        this.offWire(call);
        this.stats.retries++;
        this.logger?.debug({ path: call.path, action: call.action, status: 503 }, 'camera read retried after 503');
        const ra = Number(res.headers['retry-after']);
        try {
          await sleep(Number.isFinite(ra) && ra > 0 ? Math.min(ra * 1000, 1_000) : 250, call.controller.signal);
        } catch (err) {
          throw this.failure(call, err);
        }
        continue;
      }
      return res;
    }
  }

  private failure(call: Call, err: unknown): unknown {
    if (call.timedOut) {
      call.discardNonce = true;
      this.logger?.warn({ path: call.path, action: call.action, timeoutMs: call.timeoutMs }, 'camera request timed out');
      return new ProblemError('CAMERA_TIMEOUT', { detail: `The camera did not answer within ${call.timeoutMs} ms` });
    }
    if (call.callerSignal?.aborted) {
      call.discardNonce = true;
      return call.callerSignal.reason;
    }
    if (err instanceof ProblemError) return err;
    call.discardNonce = true;
    const problem = transportError(err);
    this.logger?.warn({ path: call.path, action: call.action, code: problem.code }, 'camera request failed');
    return problem;
  }

  // ---------------------------------------------------------------- auth

  private async exchange(call: Call): Promise<Dispatcher.ResponseData> {
    let staleResends = 0;
    let freshFetch = false;   // a 403 on a reused nonce fetched a fresh challenge
    let suspected = false;    // this call saw a 401 on proven credentials and retries once
    for (let round = 0; round < MAX_ROUNDS; round++) {
      // ---- credentials for this round
      let authorization: string | undefined;
      let fresh = false;
      const needsAuth = this.scheme === 'basic' || this.scheme === 'digest';
      if (needsAuth && !this.proven) await this.takeToken(call);
      const provenAtSend = this.proven;
      if (this.scheme === 'basic') {
        authorization = basicAuthorization(this.username, this.password);
        fresh = true;
      } else if (this.scheme === 'digest') {
        // Unproven credentials are only ever tried on a nonce straight from a challenge.
        if (call.held !== null && !provenAtSend && !call.held.fresh) call.held = null;
        call.held ??= this.takeIdle();
        if (call.held === null) {
          const res = await this.send(call, undefined);
          if (res.statusCode !== 401) return res;
          const ch = await this.challenge(call, res);
          if (ch === null) throw this.unusableChallenge();
          if (ch.scheme === 'basic') { this.learn(ch); continue; }
          call.held = { ch, nc: 0, fresh: true };
        }
        const state = call.held;
        state.nc++;
        fresh = state.fresh;
        state.fresh = false;
        authorization = digestAuthorization({
          challenge: state.ch, username: this.username, password: this.password, method: 'GET', uri: call.uri, nc: state.nc,
        });
      }

      const res = authorization === undefined ? await this.send(call, undefined) : await this.sendSigned(call, authorization);

      if (res.statusCode === 401) {
        const ch = await this.challenge(call, res);
        if (authorization === undefined) {
          // First contact (or a camera that started asking): learn the scheme, sign, resend.
          if (ch === null) throw this.unusableChallenge();
          this.learn(ch);
          if (ch.scheme === 'digest') call.held = { ch, nc: 0, fresh: true };
          continue;
        }
        if (ch !== null && ch.scheme !== this.scheme) {
          this.learn(ch);
          call.held = ch.scheme === 'digest' ? { ch, nc: 0, fresh: true } : null;
          continue;
        }
        if (ch?.scheme === 'digest' && ch.stale && staleResends === 0) {
          // Only the nonce was refused (expired, evicted, nc already seen, one-shot nonces).
          staleResends++;
          call.held = { ch, nc: 0, fresh: true };
          continue;
        }
        if (ch?.scheme === 'digest') call.held = { ch, nc: 0, fresh: true };
        if (provenAtSend) {
          if (!suspected) {
            suspected = true;
            await this.suspectShortage(call);
            continue;
          }
          // Refused twice while the same credentials kept working for other calls.
          throw new ProblemError('CAMERA_BUSY', { detail: 'The camera is out of connections', retryAfter: 1 });
        }
        // Credentials computed from a fresh challenge, refused: genuine. After a suspicion the
        // first refusal was genuine too.
        throw this.genuineFailure(call, suspected ? 2 : 1, suspected);
      }

      if (res.statusCode === 403 && authorization !== undefined && !fresh && !freshFetch) {
        // Some firmware answers a stale nonce with 403: fetch a fresh challenge and resend, once.
        await drain(res);
        this.offWire(call);
        freshFetch = true;
        call.held = null;
        if (this.scheme === 'digest') {
          const probe = await this.send(call, undefined);
          if (probe.statusCode !== 401) return probe;
          const ch = await this.challenge(call, probe);
          if (ch?.scheme === 'digest') call.held = { ch, nc: 0, fresh: true };
        }
        continue;
      }

      if (authorization !== undefined && res.statusCode !== 403) {
        this.markProven();
        const next = parseAuthenticationInfo(res.headers['authentication-info']).nextnonce;
        if (next !== undefined && next !== '' && call.held !== null) {
          call.held = { ch: { ...call.held.ch, nonce: next, stale: false }, nc: 0, fresh: false };
        }
        this.recoverLimit();
      } else if (authorization === undefined && this.scheme === 'unknown' && res.statusCode < 500 && res.statusCode !== 403) {
        this.scheme = 'none';
        this.markProven();
      }
      return res;
    }
    throw new ProblemError('CAMERA_AUTH_FAILED', { detail: 'The camera kept refusing the login handshake' });
  }

  // Credentials leave only with a place in the lockout budget (breaker.ts LoginBudget), taken
  // before the send and settled by the answer, so refusals in flight count before they happen.
  private async sendSigned(call: Call, authorization: string): Promise<Dispatcher.ResponseData> {
    const budget = this.breaker.budget;
    const ticket = await this.loginPlace(call.controller.signal);
    let res: Dispatcher.ResponseData;
    try {
      res = await this.send(call, authorization);
    } catch (err) {
      // No answer (timeout, reset): a refusal the camera never sent cannot have been counted.
      budget.release(ticket, false, this.id);
      this.authChanged.notify();
      throw err;
    }
    if (res.statusCode === 401) {
      // stale=true says the credentials were right and only the nonce was refused.
      const ch = parseChallenge(res.headers['www-authenticate']);
      if (ch?.scheme === 'digest' && ch.stale) budget.release(ticket, false, this.id);
      else budget.refused(this.id);
    } else {
      budget.release(ticket, res.statusCode < 400, this.id);
    }
    this.authChanged.notify();
    return res;
  }

  private async loginPlace(signal: AbortSignal | undefined): Promise<number> {
    const budget = this.breaker.budget;
    for (;;) {
      const ticket = budget.take();
      if (ticket !== null) return ticket;
      // Places held by requests on the wire come back with their answers: wait for them (another
      // client sharing the budget does not notify us: look again every 100 ms).
      if (budget.failed < budget.max) {
        await this.authChanged.wait(signal, 100);
        continue;
      }
      this.proven = false;
      this.breaker.trip();
      this.authChanged.notify();
      throw this.lockedOut();
    }
  }

  /**
   * A place in the lockout budget for a request signed outside this client (the streamed POST of
   * media/upload.ts); settle it with the answer's status and whether a 401 said `stale=true`.
   */
  async signedElsewhere(signal?: AbortSignal): Promise<(status: number | null, stale?: boolean) => void> {
    if (this.closed) throw this.closedError();
    if (this.breaker.state === 'open') throw this.lockedOut();
    const ticket = await this.loginPlace(signal);
    let settled = false;
    return (status, stale = false) => {
      if (settled) return;
      settled = true;
      if (status === 401 && !stale) {
        this.proven = false;
        this.breaker.budget.refused(this.id);
        this.stats.authFailures++;
        this.breaker.failure(1);
      } else {
        this.breaker.budget.release(ticket, status !== null && status < 400, this.id);
      }
      this.authChanged.notify();
    };
  }

  private learn(ch: AuthChallenge): void {
    if (this.scheme !== ch.scheme) {
      this.logger?.debug({ scheme: ch.scheme }, 'camera auth scheme learned');
      // A scheme change means nothing proven so far applies.
      if (this.scheme !== 'unknown') this.proven = false;
      this.scheme = ch.scheme;
      this.idle.length = 0;
    }
  }

  private takeIdle(): NonceState | null {
    return this.idle.pop() ?? null;
  }

  private unusableChallenge(): ProblemError {
    return new ProblemError('CAMERA_AUTH_FAILED', { detail: 'The camera asked for an authentication scheme the gateway does not support' });
  }

  private async challenge(call: Call, res: Dispatcher.ResponseData): Promise<AuthChallenge | null> {
    const ch = parseChallenge(res.headers['www-authenticate']);
    await drain(res);
    this.offWire(call);
    return ch;
  }

  private genuineFailure(call: Call, count: number, confirmed: boolean): ProblemError {
    this.proven = false;
    this.stats.authFailures += count;
    this.breaker.failure(count);
    call.discardNonce = true;
    const state: BreakerState = this.breaker.state;
    this.logger?.warn({ path: call.path, action: call.action, breaker: state, confirmedAfterRetry: confirmed }, 'camera refused the credentials');
    this.authChanged.notify();
    return new ProblemError('CAMERA_AUTH_FAILED', { detail: 'The camera refused the configured username or password' });
  }

  // A 401 on credentials that worked before: these cameras answer 401 on connections over their
  // cap. Close the refused connection, keep the budget to the connections that were served, and
  // let the caller retry once: on a connection the camera already serves (queued there until its
  // answer is in when all are busy), or, when the refused one was our only one, after a pause.
  private async suspectShortage(call: Call): Promise<void> {
    if (this.proven) {
      this.proven = false;
      this.authChanged.notify();
    }
    const refused = call.lastConn;
    const before = this.conns.size;
    // With other connections open, the refused one is the one over the cap: close it. A lone
    // connection is kept (a new one would queue last at the camera just the same).
    if (refused !== null && before > 1 && refused !== call.dedicated) this.conns.retire(refused);
    const served = before > 1 ? this.conns.size : 0;
    this.lastShortage = this.now();
    if (served > 0 && served < this.conns.budget) {
      this.conns.setBudget(served);
      this.scheduler.setLimit(Math.min(this.maxInFlight, served));
    }
    this.logger?.debug({ path: call.path, action: call.action, connections: before, budget: this.conns.budget, limit: this.scheduler.limit },
      'camera 401 on proven credentials: retrying once');
    if (served === 0) {
      try {
        await sleep(SHORTAGE_ALONE_WAIT_MS, call.controller.signal);
      } catch (err) {
        throw this.failure(call, err);
      }
    }
  }

  private recoverLimit(): void {
    const budget = this.conns.budget;
    if (budget < this.maxConnections && this.now() - this.lastShortage >= this.limitRecoveryMs) {
      this.conns.setBudget(budget + 1);
      this.scheduler.setLimit(Math.min(this.maxInFlight, budget + 1));
      this.lastShortage = this.now();
    }
  }

  // ---------------------------------------------------------------- the wire

  /** One HTTP request; resolves at the response headers (the body is the caller's). */
  private async send(call: Call, authorization: string | undefined): Promise<Dispatcher.ResponseData> {
    const headers: Record<string, string> = { accept: '*/*' };
    if (authorization !== undefined) headers.authorization = authorization;
    this.stats.requests++;
    const conn = call.dedicated ?? this.conns.acquire();
    if (conn === call.dedicated) conn.pending++;
    call.conn = conn;
    call.lastConn = conn;
    const started = performance.now();
    let res: Dispatcher.ResponseData;
    try {
      res = await conn.client.request({
        // Exactly the URI that was signed: undici writes `path` to the request line as given.
        path: call.uri,
        method: 'GET',
        headers,
        signal: call.controller.signal,
        idempotent: call.read,
        headersTimeout: call.timeoutMs,
        bodyTimeout: call.bodyTimeoutMs ?? call.timeoutMs,
      });
    } catch (err) {
      this.offWire(call);
      throw new NoAnswer(err);
    }
    if (res.statusCode === 401) this.stats.authRoundTrips++;
    this.logger?.debug({
      path: call.path, action: call.action, status: res.statusCode, auth: authorization === undefined ? 'none' : this.scheme,
      connection: conn.id, ms: Math.round(performance.now() - started),
    }, 'camera request');
    return res;
  }

  /** The answer has been read (or abandoned): its connection is free for the next request. */
  private offWire(call: Call): void {
    const conn = call.conn;
    if (conn === null) return;
    call.conn = null;
    if (conn === call.dedicated) conn.pending--;
    else this.conns.release(conn);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) { reject(signal.reason); return; }
    const onAbort = (): void => { clearTimeout(timer); reject(signal.reason); };
    const timer = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve(); }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
