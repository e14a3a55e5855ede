// A faithful camera over real HTTP/1.1 (keep-alive), for the test suite and the embedded default.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAnswers, type Answers } from './answers.ts';
import { Authenticator, type Lockout } from './auth.ts';
import type { CameraContext } from './camera.ts';
import { tableSection, sectionSupported } from './camera.ts';
import { CameraClock } from './clock.ts';
import { handleControl } from './control.ts';
import { openFinders } from './finders.ts';
import { bindEvents, EventManager, type EventAction } from './events.ts';
import { mediaOf } from './media.ts';
import { PtzState } from './ptz.ts';
import { streamState } from './streams.ts';
import { defaultFaults, delay, disruption, injectedError, type Faults } from './faults.ts';
import { text, type Reply } from './replies.ts';
import { dispatch } from './routes.ts';
import { UserDirectory, type LoginAccount } from './users.ts';
import { ConfigState, loadSeed, type Seed } from './state.ts';
import { isCameraModel, loadSurface, type CameraModel, type Surface } from './surface.ts';

export type { CameraModel } from './surface.ts';
export type { Faults } from './faults.ts';

export interface SimulatorOptions {
  port?: number; host?: string;              // 0 / '127.0.0.1'
  model?: CameraModel;                       // 'WV-V2530LK'
  username?: string; password?: string;      // 'admin' / 'admin'
  auth?: 'digest' | 'basic';                 // the challenge it sends, and the only scheme it accepts
  realm?: string;                            // 'Login to <serial>'
  lockout?: { failures: number; windowMs: number; durationMs: number }; // 5 / 300_000 / 1_800_000
  // Additions to the contract:
  control?: boolean;                         // serve /__sim/faults and /__sim/stats (false)
  rebootDowntimeMs?: number;                 // after a reboot, connections are refused this long (0)
  dataDir?: string;                          // holds config/*.txt and answers.yaml (simulator/data)
  ptz?: boolean;                             // a PTZ-capable variant: §4.10 supported on any model (false)
  events?: { everyMs: number; code?: string }; // raise `code` (VideoMotion) Start/Stop on index 0 in turn
}

export interface SimulatorStats {
  requests: number;               // HTTP requests received
  challenges: number;             // 401 answers sent
  failedLogins: number;           // requests with wrong credentials
  authorized: number;             // requests that passed auth
  openConnections: number; maxOpenConnections: number; maxInFlight: number;
}

export interface RequestLogEntry { method: string; rawUrl: string; status: number; authorized: boolean }

export interface Simulator {
  url: string; port: number; model: CameraModel;
  stats: SimulatorStats; faults: Faults;
  requestLog: RequestLogEntry[];   // status 0 = no answer (hang, drop, client gone); the last 25-50k
  resetStats(): void;             // zero counters and log, keep state
  setPassword(password: string): void;
  getConfigValue(key: string): string | undefined;  // 'table.General.MachineName'
  setConfigValue(key: string, value: string): void;  // addition: plant a value (a key it lacks is added)
  openFinders(): number;          // addition: media finders not destroyed + log finders not stopped
  raiseEvent(code: string, action: EventAction, index: number, data?: object): void;  // addition: to attached streams; keeps getEventIndexes state
  attachCount(): number;          // addition: eventManager attach streams open now
  attachTotal(): number;          // addition: attach streams served since start
  mediaStreams(): { open: number; audioPosts: number; audioBytes: number };  // addition: §7 and audio streams open now, audio uploads
  mjpegStreams(): number;         // addition: mjpg/video.cgi streams open now
  close(): Promise<void>;
}

const DATA_DIR = join(dirname(fileURLToPath(import.meta.url)), 'data');
const DEFAULT_LOCKOUT: Lockout = { failures: 5, windowMs: 300_000, durationMs: 1_800_000 };
const DEFAULT_SERIAL = 'YZC0GZ05100020';
const MAX_LOG = 50_000;

let surfaceCache: Surface | undefined;
const seedCache = new Map<string, Seed>();
const answersCache = new Map<string, Answers>();

function cached<T>(cache: Map<string, T>, key: string, load: () => T): T {
  let v = cache.get(key);
  if (v === undefined) { v = load(); cache.set(key, v); }
  return v;
}

function serialOf(answers: Answers): string {
  const a = answers.list.find((x) => x.path === '/cgi-bin/magicBox.cgi' && x.params.some(([k, v]) => k === 'action' && v === 'getSerialNo'));
  const m = a && /^sn=\s*(\S+)/m.exec(a.body);
  return m?.[1] ?? DEFAULT_SERIAL;
}

export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const model = options.model ?? 'WV-V2530LK';
  if (!isCameraModel(model)) throw new Error(`unknown camera model ${String(model)}`);
  const dataDir = options.dataDir ?? DATA_DIR;
  const surface = surfaceCache ??= loadSurface(join(DATA_DIR, 'cgi-surface.tsv'));
  const seed = cached(seedCache, dataDir, () => loadSeed(join(dataDir, 'config')));
  const answers = cached(answersCache, dataDir, () => loadAnswers(join(dataDir, 'answers.yaml')));
  const ptz = options.ptz ? new PtzState() : null;
  const support = { surface, model, tableSections: seed.tableSections, ptz };
  // A model keeps only the tables of sections it supports (no Alarm table on a camera without alarm I/O).
  const state = new ConfigState(seed.entries, (table) => sectionSupported(support, tableSection(support, table)));

  const auth = new Authenticator({
    scheme: options.auth ?? 'digest',
    realm: options.realm ?? `Login to ${serialOf(answers)}`,
    username: options.username ?? 'admin',
    password: options.password ?? 'admin',
    lockout: options.lockout ?? DEFAULT_LOCKOUT,
  });
  // The login account's password is one value, shared by digest auth and userManager.cgi.
  let loginPassword = options.password ?? 'admin';
  const login: LoginAccount = {
    username: options.username ?? 'admin',
    password: () => loginPassword,
    setPassword: (password) => { loginPassword = password; auth.setPassword(password); },
  };
  const faults = defaultFaults();
  const stats: SimulatorStats = {
    requests: 0, challenges: 0, failedLogins: 0, authorized: 0,
    openConnections: 0, maxOpenConnections: 0, maxInFlight: 0,
  };
  const requestLog: RequestLogEntry[] = [];
  const sockets = new Set<Socket>();   // in arrival order: the first maxConnections are served
  const timers = new Set<NodeJS.Timeout>();
  const rebootDowntimeMs = options.rebootDowntimeMs ?? 0;
  let inFlight = 0;
  let downUntil = 0;
  let closed = false;

  const camera: CameraContext = {
    model, surface, state, tableSections: seed.tableSections, answers,
    clock: new CameraClock(Date.now, () => state.get('table.NTP.TimeZone')),
    ptz,
    users: new UserDirectory(answers, login),
    reboot(delaySeconds) {
      if (!(rebootDowntimeMs > 0)) return;
      // Goes down once the OK has left; drops every connection and refuses new ones for the downtime.
      const goDown = (): void => {
        downUntil = Date.now() + rebootDowntimeMs;
        for (const s of sockets) s.destroySoon();
      };
      if (delaySeconds === 0) { goDown(); return; }
      const timer = setTimeout(() => { timers.delete(timer); goDown(); }, delaySeconds * 1000);
      timers.add(timer);
    },
  };

  const events = new EventManager(faults, camera.clock);
  bindEvents(camera, events);
  if (options.events) events.startSchedule(options.events.everyMs, options.events.code);

  const server = createServer();
  server.keepAliveTimeout = 10_000;

  server.on('connection', (socket: Socket) => {
    if (closed || Date.now() < downUntil) { socket.destroy(); return; }
    sockets.add(socket);
    stats.openConnections = sockets.size;
    stats.maxOpenConnections = Math.max(stats.maxOpenConnections, sockets.size);
    socket.once('close', () => {
      sockets.delete(socket);
      stats.openConnections = sockets.size;
    });
  });

  function withinConnectionCap(socket: Socket): boolean {
    if (!(faults.maxConnections > 0)) return true;
    let i = 0;
    for (const s of sockets) {
      if (s === socket) return i < faults.maxConnections;
      i++;
    }
    return true;
  }

  function unauthorized(challenge: string, body: string): Reply {
    return { status: 401, headers: { 'Content-Type': 'text/plain;charset=utf-8', 'WWW-Authenticate': challenge }, body };
  }

  // Auth, then the camera's answer. Order matters: storms and caps answer before credentials are looked at.
  function answer(req: IncomingMessage, rawUrl: string, entry: RequestLogEntry): Reply {
    if (faults.unauthorizedStorm || !withinConnectionCap(req.socket)) {
      return unauthorized(auth.challenge(), '401 Unauthorized\r\n');
    }
    const outcome = auth.check({
      method: req.method ?? 'GET', rawUrl, authorization: req.headers.authorization,
      newNoncePerResponse: faults.newNoncePerResponse,
    });
    if (!outcome.ok) {
      if (outcome.failedLogin) stats.failedLogins++;
      return unauthorized(outcome.challenge, outcome.body);
    }
    stats.authorized++;
    entry.authorized = true;
    return injectedError(faults, rawUrl) ?? dispatch(req.method ?? 'GET', rawUrl, camera);
  }

  function send(res: ServerResponse, reply: Reply, entry: RequestLogEntry): void {
    if (res.destroyed || res.writableEnded) return;
    const body = typeof reply.body === 'string' ? Buffer.from(reply.body, 'utf8') : reply.body;
    if (reply.status === 401) stats.challenges++;
    entry.status = reply.status;
    if (reply.afterSend) res.once('finish', reply.afterSend);
    if (reply.stream) {
      res.writeHead(reply.status, reply.headers);
      reply.stream(res.req, res);
      return;
    }
    res.writeHead(reply.status, { ...reply.headers, 'Content-Length': String(body.length) });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  }

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const rawUrl = req.url ?? '/';
    if (options.control && rawUrl.startsWith('/__sim/')) {
      handleControl(req, res, { faults, stats, requestLog, resetStats, raiseEvent: (c, a, i, d) => events.raise(c, a, i, d) });
      return;
    }
    stats.requests++;
    inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, inFlight);
    res.once('close', () => { inFlight--; });
    const entry: RequestLogEntry = { method: req.method ?? 'GET', rawUrl, status: 0, authorized: false };
    requestLog.push(entry);
    // Bounded for long standalone and bench runs.
    if (requestLog.length > MAX_LOG) requestLog.splice(0, requestLog.length - MAX_LOG / 2);
    const failure = disruption(faults);
    if (failure === 'drop') { req.socket.destroy(); return; }
    if (failure === 'hang') return;   // the socket stays open until the client gives up or close()
    let reply: Reply;
    try {
      reply = answer(req, rawUrl, entry);
    } catch {
      reply = text('500 Internal Server Error', 500);
    }
    delay(faults.latencyMs, timers, res, () => send(res, reply, entry));
  });

  function resetStats(): void {
    stats.requests = 0; stats.challenges = 0; stats.failedLogins = 0; stats.authorized = 0;
    stats.openConnections = sockets.size;
    stats.maxOpenConnections = sockets.size;
    stats.maxInFlight = inFlight;
    requestLog.length = 0;
  }

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => { server.off('error', reject); resolve(); });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;

  return {
    url: `http://${urlHost}:${port}`,
    port,
    model,
    stats,
    faults,
    requestLog,
    resetStats,
    setPassword: (password) => login.setPassword(password),
    getConfigValue: (key) => state.get(key),
    setConfigValue: (key, value) => state.set(key, value),
    openFinders: () => openFinders(camera),
    raiseEvent: (code, action, index, data) => events.raise(code, action, index, data),
    attachCount: () => events.open,
    attachTotal: () => events.attachTotal,
    mediaStreams: () => { const m = streamState(camera); return { open: m.open, audioPosts: m.audioPosts, audioBytes: m.audioBytes }; },
    mjpegStreams: () => mediaOf(camera).mjpegStreams,
    close: () => new Promise<void>((resolve) => {
      if (closed) { resolve(); return; }
      closed = true;
      events.close();
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.close(() => resolve());
      server.closeAllConnections();
      for (const s of sockets) s.destroy();
    }),
  };
}
