// Login circuit breaker (design.md §4 "Auth"): cameras lock a source address out after a few
// failed logins (often 5 in 300 s, for up to 30 min), so the gateway stops trying first.
// Pure state over an injectable clock; the client decides what counts as a genuine failure.

export interface BreakerOptions {
  /** Genuine failures in a row that open the breaker. */
  threshold?: number;           // 2
  /** First cool-down; doubles on every failed half-open probe. */
  cooldownMs?: number;          // 30_000
  maxCooldownMs?: number;       // 300_000
  /**
   * Lockout guard: a probe is let through only when the camera has seen fewer than
   * `maxRejections` refused logins from us in the last `windowMs`, so the doubling cool-down
   * (30+60+120 s) can never add up to the camera's own limit (5 in 300 s) by itself.
   */
  windowMs?: number;            // 300_000
  maxRejections?: number;       // 3
  now?: () => number;
}

export type BreakerState = 'closed' | 'open' | 'half-open';

export class AuthBreaker {
  private readonly threshold: number;
  private readonly cooldownMs: number;
  private readonly maxCooldownMs: number;
  private readonly windowMs: number;
  private readonly maxRejections: number;
  private readonly now: () => number;
  private phase: 'closed' | 'open' = 'closed';
  private consecutive = 0;
  private level = 0;
  private until = 0;
  private rejections: number[] = [];

  constructor(options: BreakerOptions = {}) {
    this.threshold = options.threshold ?? 2;
    this.cooldownMs = options.cooldownMs ?? 30_000;
    this.maxCooldownMs = options.maxCooldownMs ?? 300_000;
    this.windowMs = options.windowMs ?? 300_000;
    this.maxRejections = options.maxRejections ?? 3;
    this.now = options.now ?? Date.now;
  }

  /** Open turns half-open by itself once the cool-down (and the lockout guard) has passed. */
  get state(): BreakerState {
    if (this.phase === 'closed') return 'closed';
    return this.now() >= this.until ? 'half-open' : 'open';
  }

  /** Whole seconds until a probe may go through (Retry-After of CAMERA_LOCKED_OUT). */
  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil((this.until - this.now()) / 1000));
  }

  get consecutiveFailures(): number { return this.consecutive; }

  /** The camera refused credentials we sent (whatever the reason): counted for the lockout guard. */
  rejection(): void {
    this.rejections.push(this.now());
  }

  /** `count` genuine failures (the client counts a confirmed suspicion as two). */
  failure(count = 1): void {
    const wasHalfOpen = this.state === 'half-open';
    this.consecutive += count;
    if (wasHalfOpen) this.level++;
    if (wasHalfOpen || this.consecutive >= this.threshold) {
      const cooldown = Math.min(this.maxCooldownMs, this.cooldownMs * 2 ** Math.min(this.level, 20));
      this.phase = 'open';
      this.until = Math.max(this.now() + cooldown, this.guardUntil());
    }
  }

  success(): void {
    this.phase = 'closed';
    this.consecutive = 0;
    this.level = 0;
    this.until = 0;
  }

  // Earliest time at which one more refusal keeps the window under maxRejections.
  private guardUntil(): number {
    const now = this.now();
    this.rejections = this.rejections.filter((t) => now - t < this.windowMs);
    const excess = this.rejections.length - (this.maxRejections - 1);
    if (excess <= 0) return 0;
    return this.rejections[excess - 1]! + this.windowMs;
  }
}
