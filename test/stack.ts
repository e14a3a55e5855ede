// A gateway in front of a simulator over real HTTP on loopback: what most API tests need.
import type { Express } from 'express';
import { Writable } from 'node:stream';
import type { CameraClientOptions } from '../adapters/cgi/client.ts';
import { closeAll as closeEventStreams } from '../adapters/events/hub.ts';
import { closeAllFinders } from '../adapters/rest/finders.ts';
import { buildApp, onvifOf } from '../gateway/app.ts';
import { UserStore } from '../gateway/auth.ts';
import { CameraRegistry } from '../gateway/cameras.ts';
import { createLogger } from '../gateway/logger.ts';
import type { OnvifService } from '../adapters/onvif/service.ts';
import { loadSpec, type LoadedSpec } from '../gateway/spec.ts';
import { NO_RATE_LIMITS, RateLimiter } from '../gateway/rate-limit.ts';
import { startSimulator, type CameraModel, type Simulator, type SimulatorOptions } from '../simulator/server.ts';

export const USERS = {
  admin: { name: 'admin', password: 'admin-secret-1', role: 'admin' as const },
  operator: { name: 'olga', password: 'operator-secret-1', role: 'operator' as const },
  viewer: { name: 'victor', password: 'viewer-secret-1', role: 'viewer' as const },
};
export const TOKEN = { name: 'home-assistant', token: 'tok-0123456789abcdef-viewer', role: 'viewer' as const };

export function basic(user: { name: string; password: string }): string {
  return 'Basic ' + Buffer.from(`${user.name}:${user.password}`).toString('base64');
}

export interface Stack {
  app: Express;
  sim: Simulator;
  cameras: CameraRegistry;
  spec: LoadedSpec;
  /** Every log line the gateway wrote, for secret-leak assertions. */
  logs: string[];
  close(): Promise<void>;
}

let sharedSpec: LoadedSpec | undefined;

export interface StackOptions {
  model?: CameraModel;
  sim?: SimulatorOptions;
  /** The password the gateway uses for the camera, when it should differ from the camera's. */
  cameraPassword?: string;
  client?: Partial<CameraClientOptions>;
  /** Off unless given: suites call rate-limited operations in bulk. */
  rateLimiter?: RateLimiter;
  /** ONVIF services to mount instead of all of them. */
  onvifServices?: readonly OnvifService[];
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const camPassword = 'cam-pass-Secret9';
  const sim = await startSimulator({ model: options.model ?? 'WV-V2530LK', username: 'admin', password: camPassword, ...options.sim });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = createLogger('debug', sink);
  const cameras = new CameraRegistry();
  cameras.add(
    { id: 'cam1', baseUrl: sim.url, username: 'admin', password: options.cameraPassword ?? camPassword, model: options.model ?? 'WV-V2530LK' },
    logger,
    true,
    options.client,
  );
  sharedSpec ??= loadSpec();
  const app = buildApp({
    spec: sharedSpec,
    cameras,
    users: new UserStore(Object.values(USERS), [TOKEN]),
    logger,
    validateResponses: true,
    rateLimiter: options.rateLimiter ?? new RateLimiter(NO_RATE_LIMITS),
    ...(options.onvifServices ? { onvifServices: options.onvifServices } : {}),
  });
  return {
    app,
    sim,
    cameras,
    spec: sharedSpec,
    logs,
    close: async () => {
      await onvifOf(app).close();
      await closeEventStreams(cameras.list());
      await closeAllFinders(cameras);
      await cameras.close();
      await sim.close();
    },
  };
}
