// The cameras the gateway fronts: one client (pool, scheduler, breaker) and one Camera per entry.
import { Camera } from '../adapters/cgi/camera.ts';
import { CameraClient, type CameraClientOptions } from '../adapters/cgi/client.ts';
import type { CameraConfig, CameraModel } from './config.ts';
import type { Logger } from './logger.ts';

export interface CameraEntry {
  id: string;
  model: CameraModel;
  name: string | undefined;
  simulated: boolean;
  /** Where and how to reach the camera, for the calls the client does not make (streamed uploads, RTSP URLs); never put in an answer. */
  connection: Readonly<{ baseUrl: string; username: string; password: string }>;
  client: CameraClient;
  camera: Camera;
}

export class CameraRegistry {
  private readonly entries = new Map<string, CameraEntry>();

  /** `tuning` overrides the client's defaults (timeouts, limits); tests use it for short timeouts. */
  add(config: CameraConfig, logger: Logger, simulated = false, tuning: Partial<CameraClientOptions> = {}): CameraEntry {
    const client = new CameraClient({
      ...tuning,
      baseUrl: config.baseUrl,
      username: config.username,
      password: config.password,
      logger: logger.child({ camera: config.id }),
    });
    const entry: CameraEntry = {
      id: config.id,
      model: config.model,
      name: config.name,
      simulated,
      connection: { baseUrl: config.baseUrl, username: config.username, password: config.password },
      client,
      camera: new Camera(config.id, config.model, client),
    };
    this.entries.set(config.id, entry);
    return entry;
  }

  get(id: string): CameraEntry | undefined {
    return this.entries.get(id);
  }

  list(): CameraEntry[] {
    return [...this.entries.values()];
  }

  async close(): Promise<void> {
    await Promise.all(this.list().map((e) => e.client.close()));
  }
}
