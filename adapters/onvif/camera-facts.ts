// What the device and deviceio services read from the camera more than once: single-value CGI
// answers, hardware counts (kept per camera entry: they cannot change without a new entry) and
// identity values compared across the fleet.
import type { CgiDoc, CgiNode } from '../cgi/codec.ts';
import { parseKeyValue } from '../cgi/codec.ts';
import { setTimeout as delay } from 'node:timers/promises';
import type { CameraEntry, CameraRegistry } from '../../gateway/cameras.ts';
import { isProblem, type ProblemError } from '../../gateway/problems.ts';

/** How long a look at another camera may take before it is left out of a comparison. */
const FLEET_LOOK_MS = 3000;
const FLEET_RETRY_MS = 30_000;
const unreachableAt = new WeakMap<CameraEntry, number>();

/** `name=value` answers (`sn=...`, `result=2`): the value of one key, raw. */
export async function cgiValue(entry: CameraEntry, path: string, action: string, key: string, signal?: AbortSignal): Promise<string | undefined> {
  const body = await entry.camera.call(path, [['action', action]], signal ? { signal } : {});
  const v = parseKeyValue(body).doc[key];
  return typeof v === 'string' ? v : undefined;
}

export function int(node: CgiNode | undefined): number | undefined {
  if (typeof node !== 'string' || !/^\s*-?\d+\s*$/.test(node)) return undefined;
  return Number(node);
}

export function bool(node: CgiNode | undefined): boolean | undefined {
  if (typeof node !== 'string') return undefined;
  const v = node.trim().toLowerCase();
  return v === 'true' ? true : v === 'false' ? false : undefined;
}

export function str(node: CgiNode | undefined): string | undefined {
  return typeof node === 'string' ? node : undefined;
}

export function obj(node: CgiNode | undefined): Record<string, CgiNode> | undefined {
  return node !== null && typeof node === 'object' && !Array.isArray(node) ? node : undefined;
}

export function list(node: CgiNode | undefined): CgiNode[] {
  return Array.isArray(node) ? node : [];
}

/** A config table, or undefined when this model does not have it (vendor N/A). */
export async function optionalConfig(entry: CameraEntry, name: string, signal?: AbortSignal): Promise<CgiDoc | undefined> {
  try {
    return await entry.camera.getConfig(name, signal ? { signal } : {});
  } catch (err) {
    if (isProblem(err) && (err as ProblemError).code === 'NOT_SUPPORTED_BY_MODEL') return undefined;
    throw err;
  }
}

const memo = new WeakMap<CameraEntry, Map<string, Promise<unknown>>>();

/** A value read once per camera entry; a failed read is not kept, so the next call asks again. */
export function remembered<T>(entry: CameraEntry, key: string, read: () => Promise<T>): Promise<T> {
  let values = memo.get(entry);
  if (!values) memo.set(entry, (values = new Map()));
  const known = values.get(key) as Promise<T> | undefined;
  if (known) return known;
  const p = read();
  values.set(key, p);
  p.catch(() => {
    if (values.get(key) === p) values.delete(key);
  });
  return p;
}

/** A `getCollect` / `getInSlots` style count: `result=N`. */
export function hardwareCount(entry: CameraEntry, path: string, action: string): Promise<number> {
  return remembered(entry, `${path}?${action}`, async () => {
    try {
      return int(await cgiValue(entry, path, action, 'result', AbortSignal.timeout(FLEET_LOOK_MS * 2))) ?? 0;
    } catch (err) {
      if (isProblem(err) && (err as ProblemError).code === 'NOT_SUPPORTED_BY_MODEL') return 0;
      throw err;
    }
  });
}

export const counts = {
  videoSources: (e: CameraEntry) => hardwareCount(e, '/cgi-bin/devVideoInput.cgi', 'getCollect'),
  audioSources: (e: CameraEntry) => hardwareCount(e, '/cgi-bin/devAudioInput.cgi', 'getCollect'),
  audioOutputs: (e: CameraEntry) => hardwareCount(e, '/cgi-bin/devAudioOutput.cgi', 'getCollect'),
  alarmInputs: (e: CameraEntry) => hardwareCount(e, '/cgi-bin/alarm.cgi', 'getInSlots'),
  alarmOutputs: (e: CameraEntry) => hardwareCount(e, '/cgi-bin/alarm.cgi', 'getOutSlots'),
};

/**
 * Whether another camera of the registry has the same value of an identity fact (serial number,
 * hardware address). Cameras that do not answer within a few seconds are left out of the
 * comparison; values once read are kept per entry, so the answer settles as the fleet is seen.
 */
export async function sharedInFleet(
  cameras: CameraRegistry,
  self: CameraEntry,
  value: string,
  read: (entry: CameraEntry) => Promise<string | undefined>,
): Promise<boolean> {
  const norm = (v: string): string => v.trim().toLowerCase();
  const now = Date.now();
  // A camera that just failed to answer is not asked again for a while: it would slow every call.
  const others = cameras.list().filter((e) => e.id !== self.id && now - (unreachableAt.get(e) ?? -Infinity) > FLEET_RETRY_MS);
  const values = await Promise.all(
    others.map((e) =>
      Promise.race([
        read(e).catch(() => {
          unreachableAt.set(e, Date.now());
          return undefined;
        }),
        delay(FLEET_LOOK_MS, undefined, { ref: false }),
      ]),
    ),
  );
  return values.some((v) => v !== undefined && norm(v) === norm(value));
}
