// Starts a gateway from a configuration: the built-in simulator when no camera is configured,
// the listener, the validator warm-up before /readyz says ready, and a graceful stop.
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { createServer, type Server, type ServerOptions } from 'node:http';
import { request } from 'undici';
import { closeAll as closeEventStreams } from '../adapters/events/hub.ts';
import { closeAllFinders } from '../adapters/rest/finders.ts';
import { startSimulator, type Simulator } from '../simulator/server.ts';
import { buildApp, onvifOf, WARMUP_HEADER } from './app.ts';
import { UserStore } from './auth.ts';
import { CameraRegistry } from './cameras.ts';
import { CameraFile } from './camera-file.ts';
import { persistCamerasTo } from './fleet.ts';
import { DEFAULT_MODEL, type GatewayConfig } from './config.ts';
import type { Logger } from './logger.ts';
import { loadSpec, type LoadedSpec } from './spec.ts';
import { closeMjpeg } from '../adapters/media/mjpeg.ts';
import { ProblemError } from './problems.ts';
import { startCameraPorts, stopCameraPorts, type CameraPort } from './onvif-ports.ts';
import { startDiscovery, type Discovery } from '../adapters/onvif/discovery.ts';
import { RateLimiter } from './rate-limit.ts';

export interface RunningGateway {
  url: string;
  server: Server;
  cameras: CameraRegistry;
  simulator: Simulator | undefined;
  /** Settles when every validator is compiled and /readyz says ready. */
  warmed: Promise<void>;
  stop(): Promise<void>;
  /** The cameras' own ONVIF listeners (`cameras[].onvifPort`), with the ports they got. */
  cameraPorts: CameraPort[];
}

export const SHUTDOWN_DEADLINE_MS = 15_000;

/** Explicit limits against slow clients (slowloris) instead of Node's defaults; tests shorten them. */
export const SERVER_TIMEOUTS = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
  /** How often Node checks the two above (its default, 30 s, would let a slow client stay 40 s). */
  checkIntervalMs: 1_000,
};
export type ServerTimeouts = typeof SERVER_TIMEOUTS;

export async function startGateway(config: GatewayConfig, logger: Logger, timeouts: Partial<ServerTimeouts> = {}): Promise<RunningGateway> {
  const spec = loadSpec();
  const cameras = new CameraRegistry({ logger });
  // Cameras added, changed or removed at run time go back to the YAML file, when there is one.
  if (config.configFile !== undefined) persistCamerasTo(cameras, new CameraFile(config.configFile));
  let simulator: Simulator | undefined;
  if (config.cameras.length === 0) {
    // Real HTTP on loopback, so the real client path (digest, pool, codec) runs even in a demo.
    const password = randomBytes(12).toString('base64url');
    simulator = await startSimulator({ host: '127.0.0.1', port: 0, model: DEFAULT_MODEL, username: 'admin', password });
    cameras.add({ id: 'cam1', baseUrl: simulator.url, username: 'admin', password, model: DEFAULT_MODEL, name: 'Built-in simulator' }, logger, true);
    logger.info({ camera: 'cam1' }, 'no camera configured: fronting the built-in simulator');
  } else {
    for (const camera of config.cameras) cameras.add(camera, logger, false, {}, config.configFile !== undefined && camera.id !== config.envCameraId);
  }

  let ready = false;
  const warmupToken = randomBytes(24).toString('base64url');
  const app = buildApp({
    spec,
    cameras,
    users: new UserStore(config.users, config.tokens),
    logger,
    docsPublic: config.docsPublic,
    warmupToken,
    isReady: () => ready,
    rateLimiter: new RateLimiter(config.rateLimits ?? {}),
    ...(config.onvifPublicUrl !== undefined ? { onvifPublicOrigin: config.onvifPublicUrl } : {}),
  });
  const server = await listen(app, config.port, config.host, { ...SERVER_TIMEOUTS, ...timeouts });
  const address = server.address() as AddressInfo;
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
  // Cameras that want an ONVIF address of their own (fixed at start: a change needs a restart).
  const cameraPorts = await startCameraPorts(
    config.cameras.flatMap((c) => (c.onvifPort === undefined ? [] : [{ cameraId: c.id, port: c.onvifPort }])),
    config.host,
    app,
    logger,
    serverOptions({ ...SERVER_TIMEOUTS, ...timeouts }),
  );
  // WS-Discovery: Hello now, Bye at stop; a gateway without it still serves ONVIF by address.
  const discovery: Discovery | undefined = await startDiscovery({ cameras: () => cameras.list(), httpPort: address.port, httpHost: config.host, cameraPort: (id) => cameraPorts.find((p) => p.cameraId === id)?.port, ...(config.onvifPublicUrl !== undefined ? { publicOrigin: config.onvifPublicUrl } : {}), logger, enabled: config.discovery === true }).catch(
    (err: unknown) => (logger.warn({ err }, 'ws-discovery could not start'), undefined),
  );

  // Served from here on (liveness, docs, first calls compile their own validator); ready once
  // every validator is compiled.
  const warmed = warmValidators(spec, url, warmupToken, logger).then(
    () => {
      ready = true;
    },
    (err: unknown) => logger.error({ err }, 'validator warm-up failed'),
  );

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      ready = false;
      await discovery?.stop();
      // Held ONVIF pulls and push subscriptions end now, not at the connection deadline.
      await onvifOf(app).close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const portsClosed = stopCameraPorts(cameraPorts);
      // Event streams never end by themselves: end them (and their upstream attaches) so the
      // server can close.
      await closeEventStreams(cameras.list());
      // MJPEG viewers end on a frame boundary with the closing delimiter, not cut mid-picture.
      for (const entry of cameras.list()) closeMjpeg(entry, new ProblemError('CAMERA_UNREACHABLE', { detail: 'the gateway is stopping' }));
      server.closeIdleConnections();
      const deadline = setTimeout(() => server.closeAllConnections(), SHUTDOWN_DEADLINE_MS - 2_000);
      await closed;
      await portsClosed;
      clearTimeout(deadline);
      // Finder sessions hold resources on the cameras: give them back before the clients close.
      await closeAllFinders(cameras);
      await cameras.close();
      await simulator?.close();
    })());
  return { url, server, cameras, simulator, warmed, stop, cameraPorts: cameraPorts.map(({ cameraId, port }) => ({ cameraId, port })) };
}

function serverOptions(t: ServerTimeouts): ServerOptions {
  return {
    headersTimeout: t.headersTimeoutMs,
    requestTimeout: t.requestTimeoutMs,
    keepAliveTimeout: t.keepAliveTimeoutMs,
    connectionsCheckingInterval: t.checkIntervalMs,
  };
}

function listen(app: ReturnType<typeof buildApp>, port: number, host: string, t: ServerTimeouts): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer(serverOptions(t), app);
    server.listen(port, host);
    server.once('listening', () => resolve(server));
    server.once('error', reject);
  });
}

/**
 * express-openapi-validator compiles an operation's validators on its first request (about 40 ms
 * each, design.md §3): pay that before /readyz says ready, not on a user's first call.
 */
async function warmValidators(spec: LoadedSpec, url: string, token: string, logger: Logger): Promise<void> {
  const started = performance.now();
  for (const op of spec.operations) {
    const path = spec.basePath + op.path.replace('{cameraId}', 'warmup').replace(/\{[A-Za-z0-9_]+\}/g, 'x');
    const hasBody = op.method !== 'get' && op.method !== 'delete';
    const res = await request(url + path, {
      method: op.method.toUpperCase() as 'GET',
      headers: { [WARMUP_HEADER]: token, ...(hasBody ? { 'content-type': 'application/json' } : {}) },
      body: hasBody ? '{}' : null,
    });
    await res.body.dump();
  }
  logger.info({ operations: spec.operations.length, ms: Math.round(performance.now() - started) }, 'validators warmed');
}
