// Cameras added, changed and removed at run time. The file is written first and the registry
// changed only when that worked, so the gateway and its YAML file never disagree; changes are
// serialised per registry. Without a file (CAMERA_URL, the built-in simulator) they live in memory.
import { closeAll as closeEventHubs } from '../adapters/events/hub.ts';
import { closeMjpeg } from '../adapters/media/mjpeg.ts';
import { closeCameraFinders } from '../adapters/rest/finders.ts';
import type { CameraFile } from './camera-file.ts';
import type { CameraEntry, CameraRegistry } from './cameras.ts';
import type { CameraConfig, CameraModel } from './config.ts';
import { ProblemError } from './problems.ts';

export interface CameraChange {
  baseUrl?: string;
  username?: string;
  password?: string;
  model?: CameraModel;
  /** null removes the name. */
  name?: string | null;
}

interface FleetState {
  file: CameraFile | undefined;
  queue: Promise<unknown>;
  /** Old clients still finishing their calls. */
  retiring: Set<Promise<void>>;
}

const fleets = new WeakMap<CameraRegistry, FleetState>();

function state(cameras: CameraRegistry): FleetState {
  let s = fleets.get(cameras);
  if (!s) fleets.set(cameras, (s = { file: undefined, queue: Promise.resolve(), retiring: new Set() }));
  return s;
}

/** Run-time changes of these cameras are written to `file` (the YAML file the gateway started from). */
export function persistCamerasTo(cameras: CameraRegistry, file: CameraFile): void {
  state(cameras).file = file;
}

/** How long an old client may go on with its calls after a change before it is closed anyway. */
export const RETIRE_GRACE_MS = 30_000;
/** How long a removal waits for the camera to close its finder sessions. */
const FINDER_RELEASE_MS = 2_000;

function serialised<T>(cameras: CameraRegistry, work: () => Promise<T>): Promise<T> {
  const s = state(cameras);
  const run = s.queue.then(work, work);
  s.queue = run.catch(() => undefined);
  return run;
}

async function written(cameras: CameraRegistry, what: string, write: () => Promise<unknown>): Promise<void> {
  try {
    await write();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    cameras.logger?.error({ file: state(cameras).file?.path, code, message: (err as Error).message }, `could not ${what} the configuration file`);
    // Never the file's content (passwords) in the detail: only what failed and the errno code.
    throw new ProblemError('CONFIG_WRITE_FAILED', { detail: `could not ${what} the configuration file${code ? ` (${code})` : ''}`, cause: err });
  }
}

export function addCamera(cameras: CameraRegistry, config: CameraConfig): Promise<CameraEntry> {
  return serialised(cameras, async () => {
    if (cameras.get(config.id)) throw new ProblemError('CONFLICT', { detail: `camera ${config.id} exists already` });
    const file = state(cameras).file;
    if (file) await written(cameras, 'add the camera to', () => file.add(config));
    const entry = cameras.build(config, { persisted: file !== undefined });
    cameras.set(entry);
    return entry;
  });
}

/** Replaces the camera's client: new calls use the new one, the old one closes after its calls. */
export function changeCamera(cameras: CameraRegistry, id: string, change: CameraChange): Promise<CameraEntry> {
  return serialised(cameras, async () => {
    const old = cameras.get(id);
    if (!old) throw new ProblemError('NOT_FOUND', { detail: `no camera ${id}` });
    const config: CameraConfig = {
      id,
      baseUrl: change.baseUrl ?? old.connection.baseUrl,
      username: change.username ?? old.connection.username,
      password: change.password ?? old.connection.password,
      model: change.model ?? old.model,
    };
    const name = change.name === null ? undefined : (change.name ?? old.name);
    if (name !== undefined) config.name = name;
    const file = state(cameras).file;
    let persisted = false;
    if (file && old.persisted) await written(cameras, 'change the camera in', async () => { persisted = await file.replace(config); });
    const sameCamera = config.baseUrl === old.connection.baseUrl && config.username === old.connection.username
      && config.password === old.connection.password && config.model === old.model;
    if (sameCamera) {
      // Only the name changed: the client, its streams and subscribers stay as they are.
      old.name = config.name;
      old.persisted = persisted;
      return old;
    }
    const entry = cameras.build(config, { simulated: old.simulated && change.baseUrl === undefined, persisted });
    cameras.set(entry);
    retire(cameras, old, 'drain');
    return entry;
  });
}

/** Removes the camera: its event hub, finders and streams end, and calls still running fail with NOT_FOUND. */
export function removeCamera(cameras: CameraRegistry, id: string): Promise<{ entry: CameraEntry; persisted: boolean }> {
  return serialised(cameras, async () => {
    const old = cameras.get(id);
    if (!old) throw new ProblemError('NOT_FOUND', { detail: `no camera ${id}` });
    const file = state(cameras).file;
    let persisted = false;
    if (file && old.persisted) await written(cameras, 'remove the camera from', async () => { persisted = await file.remove(id); });
    cameras.delete(id);
    await retire(cameras, old, 'now');
    return { entry: old, persisted };
  });
}

/** Settles when every old client of a change has closed (tests, shutdown). */
export async function retired(cameras: CameraRegistry): Promise<void> {
  await Promise.all(state(cameras).retiring);
}

function retire(cameras: CameraRegistry, entry: CameraEntry, when: 'now' | 'drain'): Promise<void> {
  const s = state(cameras);
  const run = (async () => {
    // Event subscribers are bound to the old entry's hub: end them (SSE clients reconnect to the new one).
    await closeEventHubs([entry]);
    // MJPEG viewers end now instead of retrying a client that is going away; they reconnect to the new entry.
    closeMjpeg(entry, new ProblemError(when === 'now' ? 'NOT_FOUND' : 'CAMERA_UNREACHABLE', { detail: when === 'now' ? `camera ${entry.id} was removed` : `camera ${entry.id} was reconfigured; retry` }));
    await Promise.race([closeCameraFinders(cameras, entry.id), delay(FINDER_RELEASE_MS)]);
    if (when === 'now') {
      await entry.client.close(new ProblemError('NOT_FOUND', { detail: `camera ${entry.id} was removed while this call was running` }));
      return;
    }
    const until = Date.now() + RETIRE_GRACE_MS;
    while ((entry.client.inFlight > 0 || entry.client.queued > 0) && Date.now() < until) await delay(50);
    // What is left are long-lived streams (live and playback video, audio): they end here and their clients reconnect.
    await entry.client.close(new ProblemError('CAMERA_UNREACHABLE', { detail: `camera ${entry.id} was reconfigured while this call was running; retry` }));
  })().catch(() => undefined);
  s.retiring.add(run);
  void run.finally(() => s.retiring.delete(run));
  return run;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
