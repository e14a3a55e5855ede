// Configuration (design.md §2, contract): a YAML file (--config FILE or CAMGATE_CONFIG), or one
// camera from CAMERA_URL, or nothing at all — then the built-in simulator is `cam1`.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { Role } from './spec.ts';
import { parseRateLimits, type RateLimitOverrides } from './rate-limit.ts';

export const CAMERA_MODELS = ['WV-V1330LK', 'WV-V2530LK', 'WV-V1330L1', 'WV-V2530L1'] as const;
export type CameraModel = (typeof CAMERA_MODELS)[number];
export const DEFAULT_MODEL: CameraModel = 'WV-V2530LK';

export interface CameraConfig {
  id: string;
  /** http(s)://host:port of the camera, without credentials. */
  baseUrl: string;
  username: string;
  password: string;
  model: CameraModel;
  name?: string;
  /** A listener of its own for this camera's ONVIF services (one device per address and port). */
  onvifPort?: number;
}

export interface UserConfig {
  name: string;
  password: string;
  role: Role;
  /** Camera ids this user may use; absent = all. */
  cameras?: string[];
}

export interface TokenConfig {
  name: string;
  token: string;
  role: Role;
  /** Camera ids this token may use; absent = all. */
  cameras?: string[];
}

export interface GatewayConfig {
  host: string;
  port: number;
  /** Empty: start the built-in simulator and front it as cam1. */
  cameras: CameraConfig[];
  users: UserConfig[];
  tokens: TokenConfig[];
  docsPublic: boolean;
  logLevel: string;
  /** WS-Discovery on UDP 3702: on unless `onvif: { discovery: false }` or CAMGATE_DISCOVERY=0; absent = off. */
  discovery?: boolean;
  /** `onvif.publicUrl`: the origin ONVIF XAddrs, URIs and WS-Discovery name (behind NAT or a proxy) instead of the request's Host. */
  onvifPublicUrl?: string;
  /** `rateLimits:` overrides of gateway/rate-limit.ts DEFAULT_RATE_LIMITS. */
  rateLimits?: RateLimitOverrides;
  /** Set when the admin password was generated: printed once at start, never logged. */
  generatedAdminPassword?: string;
  /** The YAML file the configuration came from: run-time camera changes are written back to it. */
  configFile?: string;
  /** The id of the CAMERA_URL camera, which is not in the file (its changes live in memory). */
  envCameraId?: string;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const ROLES: readonly Role[] = ['viewer', 'operator', 'admin'];

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): GatewayConfig {
  const file = argValue(argv, '--config') ?? env.CAMGATE_CONFIG;
  const yaml = file ? readYaml(file) : {};
  const cameras: CameraConfig[] = [];
  for (const [i, raw] of asArray(yaml.cameras, 'cameras').entries()) cameras.push(cameraFromYaml(raw, `cameras[${i}]`));
  if (env.CAMERA_URL) {
    cameras.push(
      cameraFromUrl(env.CAMERA_URL, env.CAMERA_ID ?? 'cam1', modelOf(env.CAMERA_MODEL ?? DEFAULT_MODEL, 'CAMERA_MODEL'), 'CAMERA_URL'),
    );
  }
  const ids = new Set<string>();
  for (const c of cameras) {
    if (ids.has(c.id)) throw new ConfigError(`camera id ${c.id} is used twice`);
    ids.add(c.id);
  }

  const users: UserConfig[] = asArray(yaml.users, 'users').map((raw, i) => {
    const u = asObject(raw, `users[${i}]`);
    const user: UserConfig = { name: str(u.name, `users[${i}].name`), password: str(u.password, `users[${i}].password`), role: role(u.role, `users[${i}].role`) };
    if (u.cameras !== undefined) user.cameras = cameraIds(u.cameras, `users[${i}].cameras`);
    return user;
  });
  const tokens: TokenConfig[] = asArray(yaml.tokens, 'tokens').map((raw, i) => {
    const t = asObject(raw, `tokens[${i}]`);
    const token = str(t.token, `tokens[${i}].token`);
    if (token.length < 16) throw new ConfigError(`tokens[${i}].token must have at least 16 characters`);
    const entry: TokenConfig = { name: str(t.name, `tokens[${i}].name`), token, role: role(t.role, `tokens[${i}].role`) };
    if (t.cameras !== undefined) entry.cameras = cameraIds(t.cameras, `tokens[${i}].cameras`);
    return entry;
  });

  let generatedAdminPassword: string | undefined;
  if (env.CAMGATE_ADMIN_PASSWORD) {
    users.unshift({ name: 'admin', password: env.CAMGATE_ADMIN_PASSWORD, role: 'admin' });
  } else if (!users.some((u) => u.name === 'admin')) {
    generatedAdminPassword = randomBytes(12).toString('base64url');
    users.unshift({ name: 'admin', password: generatedAdminPassword, role: 'admin' });
  }

  const docs = yaml.docs === undefined ? {} : asObject(yaml.docs, 'docs');
  const rateLimits = parseRateLimits(yaml.rateLimits);
  if (rateLimits.errors.length > 0) throw new ConfigError(rateLimits.errors.join('; '));
  const config: GatewayConfig = {
    host: env.HOST ?? (typeof yaml.host === 'string' ? yaml.host : '0.0.0.0'),
    port: port(env.PORT ?? yaml.port ?? 8080),
    cameras,
    users,
    tokens,
    docsPublic: docs.public === undefined ? true : docs.public === true,
    logLevel: env.LOG_LEVEL ?? (typeof yaml.logLevel === 'string' ? yaml.logLevel : 'info'),
    rateLimits: rateLimits.overrides,
  };
  if (generatedAdminPassword !== undefined) config.generatedAdminPassword = generatedAdminPassword;
  if (file) config.configFile = file;
  if (env.CAMERA_URL) config.envCameraId = env.CAMERA_ID ?? 'cam1';
  const onvif = yaml.onvif === undefined ? {} : asObject(yaml.onvif, 'onvif');
  if (onvif.discovery !== undefined && typeof onvif.discovery !== 'boolean') throw new ConfigError('onvif.discovery must be true or false');
  config.discovery = env.CAMGATE_DISCOVERY !== undefined ? !/^(0|false|off|no)$/i.test(env.CAMGATE_DISCOVERY) : onvif.discovery !== false;
  if (onvif.publicUrl !== undefined) config.onvifPublicUrl = publicOrigin(onvif.publicUrl);
  return config;
}

/** `http://user:password@host:port` → a camera whose credentials live apart from its address. */
export function cameraFromUrl(url: string, id: string, model: CameraModel, where: string, userGivenApart = false): CameraConfig {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`${where} is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new ConfigError(`${where} must be http:// or https://`);
  if (!parsed.username && !userGivenApart) throw new ConfigError(`${where} has no user name (http://user:password@host:port)`);
  if (!ID.test(id)) throw new ConfigError(`camera id ${JSON.stringify(id)} must match ${ID.source}`);
  return {
    id,
    baseUrl: `${parsed.protocol}//${parsed.host}`,
    username: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
    model,
  };
}

function cameraFromYaml(raw: unknown, where: string): CameraConfig {
  const c = asObject(raw, where);
  const id = str(c.id, `${where}.id`);
  const model = modelOf(c.model ?? DEFAULT_MODEL, `${where}.model`);
  const camera = cameraFromUrl(str(c.url, `${where}.url`), id, model, `${where}.url`, c.username !== undefined);
  // Credentials may also be given apart from the URL, which keeps them out of a URL-shaped string.
  if (c.username !== undefined) camera.username = str(c.username, `${where}.username`);
  if (c.password !== undefined) camera.password = str(c.password, `${where}.password`);
  if (c.name !== undefined) camera.name = str(c.name, `${where}.name`);
  if (c.onvifPort !== undefined) camera.onvifPort = port(c.onvifPort);
  return camera;
}

/** An access list: ids of cameras (which may be added at run time later, so unknown ids are kept). */
function cameraIds(v: unknown, where: string): string[] {
  if (!Array.isArray(v)) throw new ConfigError(`${where} must be a list of camera ids`);
  return v.map((id, i) => {
    if (typeof id !== 'string' || !ID.test(id)) throw new ConfigError(`${where}[${i}] must be a camera id matching ${ID.source}`);
    return id;
  });
}

function readYaml(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const doc = parse(text) as unknown;
  if (doc === null || doc === undefined) return {};
  return asObject(doc, file);
}

function argValue(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  if (i >= 0) return argv[i + 1];
  const eq = argv.find((a) => a.startsWith(`${name}=`));
  return eq?.slice(name.length + 1);
}

function asArray(v: unknown, where: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new ConfigError(`${where} must be a list`);
  return v;
}

function asObject(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(`${where} must be a mapping`);
  return v as Record<string, unknown>;
}

function str(v: unknown, where: string): string {
  if (typeof v !== 'string' || v.length === 0) throw new ConfigError(`${where} must be a non-empty string`);
  return v;
}

function role(v: unknown, where: string): Role {
  if (!ROLES.includes(v as Role)) throw new ConfigError(`${where} must be one of ${ROLES.join(', ')}`);
  return v as Role;
}

function modelOf(v: unknown, where: string): CameraModel {
  if (!CAMERA_MODELS.includes(v as CameraModel)) throw new ConfigError(`${where} must be one of ${CAMERA_MODELS.join(', ')}`);
  return v as CameraModel;
}

/** `http(s)://host[:port]` and nothing else (no path, query or credentials): it is put into XAddrs. */
function publicOrigin(v: unknown): string {
  let url: URL;
  try {
    url = new URL(str(v, 'onvif.publicUrl'));
  } catch {
    throw new ConfigError('onvif.publicUrl must be an http(s) URL');
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
    throw new ConfigError('onvif.publicUrl must be http(s)://host[:port] without a path, query or credentials');
  }
  return url.origin;
}

function port(v: unknown): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(`port ${String(v)} is not a TCP port`);
  return n;
}
