// How far each camera's clock is from ours, as last read for GetSystemDateAndTime. Clients sign
// their UsernameTokens with the time the device reports (that is what the operation is for), so a
// camera whose clock is off must not lock them out: the router also accepts Created near the
// camera's time.
import type { CameraEntry } from '../../gateway/cameras.ts';

const offsets = new WeakMap<CameraEntry, number>();

export function recordClockOffset(entry: CameraEntry, cameraUtcMs: number, ourNowMs: number): void {
  offsets.set(entry, cameraUtcMs - ourNowMs);
}

/** Milliseconds the camera's UTC is ahead of ours; undefined before its clock was read. */
export function clockOffsetOf(entry: CameraEntry): number | undefined {
  return offsets.get(entry);
}
