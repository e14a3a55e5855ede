// The cameras the gateway fronts: one client (pool, scheduler, breaker) and one Camera per entry.
// Run-time changes (gateway/fleet.ts) swap whole entries, so a request that looked one up keeps a
// consistent client for its whole run.
import { LoginBudget } from '../adapters/cgi/breaker.ts';
import { Camera } from '../adapters/cgi/camera.ts';
import { CameraClient, type CameraClientOptions } from '../adapters/cgi/client.ts';
import type { CameraConfig, CameraModel } from './config.ts';
import type { Logger } from './logger.ts';

export interface CameraEntry {
  id: string;
  model: CameraModel;
  name: string | undefined;
  simulated: boolean;
  /** The definition is in the YAML file: run-time changes to it are written back. */
  persisted: boolean;
  /** Where and how to reach the camera, for the calls the client does not make (streamed uploads, RTSP URLs); never put in an answer. */
  connection: Readonly<{ baseUrl: string; username: string; password: string }>;
  client: CameraClient;
  camera: Camera;
}

export interface RegistryDefaults {
  /** The logger of cameras added at run time. */
  logger?: Logger;
  /** Client tuning of cameras added at run time (tests use short timeouts). */
  tuning?: Partial<CameraClientOptions>;
}

export class CameraRegistry {
  private readonly entries = new Map<string, CameraEntry>();
  private readonly budgets = new Map<string, LoginBudget>();
  private readonly defaults: RegistryDefaults;

  constructor(defaults: RegistryDefaults = {}) {
    this.defaults = { ...defaults };
  }

  /** `tuning` overrides the client's defaults (timeouts, limits); tests use it for short timeouts. */
  add(config: CameraConfig, logger: Logger, simulated = false, tuning: Partial<CameraClientOptions> = {}, persisted = false): CameraEntry {
    // The first camera's logger and tuning are those of cameras added later, unless set at construction.
    this.defaults.logger ??= logger;
    this.defaults.tuning ??= tuning;
    const entry = this.build(config, { simulated, persisted, logger, tuning });
    this.entries.set(config.id, entry);
    return entry;
  }

  /** A new entry (its own client) that is not registered yet. */
  build(config: CameraConfig, options: { simulated?: boolean; persisted?: boolean; logger?: Logger; tuning?: Partial<CameraClientOptions> } = {}): CameraEntry {
    const logger = options.logger ?? this.defaults.logger;
    const tuning = options.tuning ?? this.defaults.tuning ?? {};
    const client = new CameraClient({
      ...tuning,
      // One lockout budget per camera address for the registry's lifetime (cameras count refused
      // logins per source address): a client replaced at run time passes it on.
      ...(tuning.now === undefined && tuning.breaker === undefined ? { loginBudget: this.loginBudget(config.baseUrl) } : {}),
      baseUrl: config.baseUrl,
      username: config.username,
      password: config.password,
      ...(logger ? { logger: logger.child({ camera: config.id }) } : {}),
    });
    return {
      id: config.id,
      model: config.model,
      name: config.name,
      simulated: options.simulated ?? false,
      persisted: options.persisted ?? false,
      connection: { baseUrl: config.baseUrl, username: config.username, password: config.password },
      client,
      camera: new Camera(config.id, config.model, client),
    };
  }

  private loginBudget(baseUrl: string): LoginBudget {
    const origin = new URL(baseUrl).origin;
    let budget = this.budgets.get(origin);
    if (budget === undefined) {
      budget = new LoginBudget(3, 300_000, Date.now);
      this.budgets.set(origin, budget);
    }
    return budget;
  }

  /** Registers an entry, replacing the one with its id: new look-ups get the new one at once. */
  set(entry: CameraEntry): void {
    this.entries.set(entry.id, entry);
  }

  /** Unregisters a camera; closing what it holds is the caller's job (gateway/fleet.ts). */
  delete(id: string): CameraEntry | undefined {
    const entry = this.entries.get(id);
    this.entries.delete(id);
    return entry;
  }

  /** The logger run-time changes report to. */
  get logger(): Logger | undefined {
    return this.defaults.logger;
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
