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
   * Lockout budget: at most `maxRejections` refused logins in any `windowMs`, requests still
   * awaiting their verdict included (LoginBudget); also keeps the doubling cool-down
   * (30+60+120 s) from adding up to the camera's own limit (5 in 300 s) by itself.
   */
  windowMs?: number;            // 300_000
  maxRejections?: number;       // 3
  now?: () => number;
}

export type BreakerState = 'closed' | 'open' | 'half-open';

/**
 * The lockout budget: at most `max` refused logins per sliding `windowMs`, counting the requests
 * whose verdict is still on the wire as refused (a changed password refuses every one of them).
 * A request carrying credentials takes a place BEFORE it is sent; its answer settles the place:
 * refused (kept as a failure in the window), or released. A request accepted by the camera proves
 * that refusals it was sent after were not wrong passwords (connection caps answer 401 too) and
 * forgives them.
 */
export class LoginBudget {
  private failures: Array<{ at: number; seq: number; by: number }> = [];
  private pending = 0;
  private seq = 0;

  constructor(readonly max: number, readonly windowMs: number, private readonly now: () => number) {}

  /** Refusals still inside the window. */
  get failed(): number {
    const now = this.now();
    this.failures = this.failures.filter((f) => now - f.at < this.windowMs);
    return this.failures.length;
  }

  /** Requests with credentials whose verdict is outstanding. */
  get outstanding(): number { return this.pending; }

  /** Places left: refusals the camera may still see from us in the window. */
  get remaining(): number { return Math.max(0, this.max - this.failed - this.pending); }

  /** Takes a place for one request with credentials; returns its ticket or null when none is left. */
  take(): number | null {
    if (this.remaining <= 0) return null;
    this.pending++;
    return ++this.seq;
  }

  /** The camera refused a request of client `by` (or we cannot rule out that it counted one). */
  refused(by = 0): void {
    this.pending--;
    this.failures.push({ at: this.now(), seq: ++this.seq, by });
  }

  /**
   * No refusal: the place is free again. `accepted` forgives the refusals of the same client `by`
   * (the same credentials) received before `ticket` was sent.
   */
  release(ticket: number, accepted: boolean, by = 0): void {
    this.pending--;
    if (accepted) this.failures = this.failures.filter((f) => f.seq > ticket || f.by !== by);
  }

  /** Earliest time at which `room` more refusals fit in the window (now when they already fit). */
  freeAt(room = 1): number {
    const excess = this.failed + room - this.max;
    if (excess <= 0) return this.now();
    return this.failures[excess - 1]!.at + this.windowMs;
  }
}

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
  /** Shared with the client, which takes a place before every request carrying credentials. */
  readonly budget: LoginBudget;

  constructor(options: BreakerOptions = {}, budget?: LoginBudget) {
    this.threshold = options.threshold ?? 2;
    this.cooldownMs = options.cooldownMs ?? 30_000;
    this.maxCooldownMs = options.maxCooldownMs ?? 300_000;
    this.windowMs = options.windowMs ?? 300_000;
    this.maxRejections = options.maxRejections ?? 3;
    this.now = options.now ?? Date.now;
    this.budget = budget ?? new LoginBudget(this.maxRejections, this.windowMs, this.now);
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

  /** The lockout budget is spent: no login until a refusal leaves the window, then one probe. */
  trip(): void {
    this.phase = 'open';
    this.until = Math.max(this.until, this.guardUntil());
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

  // Earliest time at which one more refusal keeps the window within maxRejections.
  private guardUntil(): number {
    return this.maxRejections === Infinity ? 0 : this.budget.freeAt(1);
  }
}
