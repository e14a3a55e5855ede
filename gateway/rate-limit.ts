// Rate limits for costly or sensitive camera actions (issue 6 "Security"): token buckets per user
// and per camera for each class an operation opts into with `x-rate-limit` (openapi/README.md).
// One limiter per process, shared by REST and ONVIF: `take(class, user, cameraId)`.
import type { Principal } from './auth.ts';
import { ProblemError } from './problems.ts';

export const RATE_LIMIT_CLASSES = ['ptz', 'reboot', 'snapshot', 'mjpeg'] as const;
export type RateLimitClass = (typeof RATE_LIMIT_CLASSES)[number];

/** A bucket holds `burst` tokens and gains `perMinute` tokens a minute; each action takes one. */
export interface Bucket { burst: number; perMinute: number }
/** `null` switches that side off. */
export interface ClassLimits { perUser: Bucket | null; perCamera: Bucket | null }
export type RateLimits = Record<RateLimitClass, ClassLimits>;
export type RateLimitOverrides = Partial<Record<RateLimitClass, Partial<ClassLimits>>>;

/**
 * Why these numbers:
 * - ptz: a joystick sends a start per direction change (stops are never limited: a head must
 *   always be stoppable); 5 a second per user covers a human, 10 per camera covers two operators,
 *   and keeps a runaway script from saturating the head's serial control bus.
 * - reboot (reboot, shutdown, factory restore): a camera takes about a minute to come back, so a
 *   second one inside 2 minutes is a mistake or a loop; 3 in a burst per user lets an admin
 *   work through a few cameras, 1 per 2 min per camera.
 * - snapshot: the gateway shares one camera request per second and camera (single-flight and a
 *   1 s cache), so the camera is safe already; the limit bounds the gateway's own JPEG fan-out:
 *   5 a second per user (a VMS pulling JPEGs; faster viewers belong on MJPEG or RTSP), a burst of
 *   10 for a page of thumbnails, and 20 a second per camera.
 * - mjpeg: opening a view is cheap once the upstream runs, but opens in a loop churn the camera's
 *   stream; 20 opens a minute per user, 60 per camera.
 */
export const DEFAULT_RATE_LIMITS: RateLimits = {
  ptz: { perUser: { burst: 10, perMinute: 300 }, perCamera: { burst: 20, perMinute: 600 } },
  reboot: { perUser: { burst: 3, perMinute: 1 }, perCamera: { burst: 1, perMinute: 0.5 } },
  snapshot: { perUser: { burst: 10, perMinute: 300 }, perCamera: { burst: 30, perMinute: 1200 } },
  mjpeg: { perUser: { burst: 5, perMinute: 20 }, perCamera: { burst: 10, perMinute: 60 } },
};

/** Every class off (suites that exercise operations in bulk; the rate-limit tests bring their own). */
export const NO_RATE_LIMITS: RateLimitOverrides = Object.fromEntries(
  RATE_LIMIT_CLASSES.map((cls) => [cls, { perUser: null, perCamera: null }]),
);

export type TakeResult = { ok: true } | { ok: false; retryAfterSeconds: number };

interface State { tokens: number; at: number }

// Buckets that have refilled carry no information: dropped when the map grows past this.
const PRUNE_AT = 10_000;

export class RateLimiter {
  readonly limits: RateLimits;
  private readonly buckets = new Map<string, State>();
  private readonly now: () => number;

  constructor(overrides: RateLimitOverrides = {}, now: () => number = Date.now) {
    this.now = now;
    this.limits = mergeLimits(overrides);
  }

  /** Takes one token from the user's and the camera's bucket of `cls`, or neither. */
  take(cls: RateLimitClass, user: string, cameraId: string): TakeResult {
    const { perUser, perCamera } = this.limits[cls];
    const now = this.now();
    const sides: Array<[string, Bucket]> = [];
    if (perUser) sides.push([`${cls}\0u\0${user}\0${cameraId}`, perUser]);
    if (perCamera) sides.push([`${cls}\0c\0${cameraId}`, perCamera]);
    let waitMs = 0;
    const states = sides.map(([key, bucket]) => {
      const s = this.refill(key, bucket, now);
      if (s.tokens < 1) waitMs = Math.max(waitMs, bucket.perMinute > 0 ? ((1 - s.tokens) * 60_000) / bucket.perMinute : Infinity);
      return s;
    });
    if (waitMs > 0) return { ok: false, retryAfterSeconds: Number.isFinite(waitMs) ? Math.max(1, Math.ceil(waitMs / 1000)) : 3600 };
    for (const s of states) s.tokens -= 1;
    return { ok: true };
  }

  /** Like take(), but throws RATE_LIMITED (429 with Retry-After) when over the limit. */
  enforce(cls: RateLimitClass, user: string, cameraId: string): void {
    const r = this.take(cls, user, cameraId);
    if (!r.ok) {
      throw new ProblemError('RATE_LIMITED', {
        detail: `too many ${cls} requests for camera ${cameraId}; retry in ${r.retryAfterSeconds} s`,
        retryAfter: r.retryAfterSeconds,
      });
    }
  }

  private refill(key: string, bucket: Bucket, now: number): State {
    let s = this.buckets.get(key);
    if (s === undefined) {
      if (this.buckets.size >= PRUNE_AT) this.prune(now);
      s = { tokens: bucket.burst, at: now };
      this.buckets.set(key, s);
      return s;
    }
    s.tokens = Math.min(bucket.burst, s.tokens + ((now - s.at) * bucket.perMinute) / 60_000);
    s.at = now;
    return s;
  }

  private prune(now: number): void {
    for (const [key, s] of this.buckets) {
      const [cls, side] = key.split('\0') as [RateLimitClass, string];
      const bucket = side === 'u' ? this.limits[cls].perUser : this.limits[cls].perCamera;
      if (!bucket || s.tokens + ((now - s.at) * bucket.perMinute) / 60_000 >= bucket.burst) this.buckets.delete(key);
    }
  }
}

/** The bucket owner of a principal: one per gateway user (whatever the auth scheme), one per API token. */
export function rateLimitUser(principal: Pick<Principal, 'name' | 'via'>): string {
  return principal.via === 'bearer' ? `token:${principal.name}` : `user:${principal.name}`;
}

export function isRateLimitClass(value: unknown): value is RateLimitClass {
  return typeof value === 'string' && (RATE_LIMIT_CLASSES as readonly string[]).includes(value);
}

function mergeLimits(overrides: RateLimitOverrides): RateLimits {
  const out = structuredClone(DEFAULT_RATE_LIMITS);
  for (const cls of RATE_LIMIT_CLASSES) {
    const o = overrides[cls];
    if (o === undefined) continue;
    if (o.perUser !== undefined) out[cls].perUser = o.perUser;
    if (o.perCamera !== undefined) out[cls].perCamera = o.perCamera;
  }
  return out;
}

/**
 * The `rateLimits:` section of the YAML file: per class, `perUser` and `perCamera` as
 * `{ burst, perMinute }` or `null` (off). Returns the overrides or a list of errors.
 */
export function parseRateLimits(raw: unknown, where = 'rateLimits'): { overrides: RateLimitOverrides; errors: string[] } {
  const overrides: RateLimitOverrides = {};
  const errors: string[] = [];
  if (raw === undefined || raw === null) return { overrides, errors };
  if (typeof raw !== 'object' || Array.isArray(raw)) return { overrides, errors: [`${where} must be a mapping`] };
  for (const [cls, value] of Object.entries(raw as Record<string, unknown>)) {
    if (!isRateLimitClass(cls)) { errors.push(`${where}.${cls}: unknown class (one of ${RATE_LIMIT_CLASSES.join(', ')})`); continue; }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) { errors.push(`${where}.${cls} must be a mapping`); continue; }
    const limits: Partial<ClassLimits> = {};
    for (const [side, b] of Object.entries(value as Record<string, unknown>)) {
      if (side !== 'perUser' && side !== 'perCamera') { errors.push(`${where}.${cls}.${side}: expected perUser or perCamera`); continue; }
      if (b === null) { limits[side] = null; continue; }
      const bucket = b as Partial<Bucket>;
      const ok = typeof b === 'object' && !Array.isArray(b) && Object.keys(b).every((k) => k === 'burst' || k === 'perMinute')
        && typeof bucket.burst === 'number' && Number.isInteger(bucket.burst) && bucket.burst >= 1 && bucket.burst <= 1_000_000
        && typeof bucket.perMinute === 'number' && Number.isFinite(bucket.perMinute) && bucket.perMinute >= 0 && bucket.perMinute <= 1_000_000;
      if (!ok) { errors.push(`${where}.${cls}.${side}: expected { burst: integer >= 1, perMinute: number >= 0 } or null`); continue; }
      limits[side] = { burst: bucket.burst!, perMinute: bucket.perMinute! };
    }
    overrides[cls] = limits;
  }
  return { overrides, errors };
}
