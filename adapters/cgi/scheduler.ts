// Per-camera admission: at most `limit` calls hold a slot, the rest wait in a bounded FIFO queue
// (design.md §4 "Scheduler"). A full queue, or a wait longer than the caller's budget, is
// CAMERA_BUSY with a Retry-After estimated from how long slots are held.

import { ProblemError } from '../../gateway/problems.ts';

export type Release = () => void;

interface Waiter {
  grant: (release: Release) => void;
  fail: (err: unknown) => void;
}

export interface AcquireOptions {
  signal?: AbortSignal | undefined;
  /** Longest wait in the queue before giving up with CAMERA_BUSY. */
  maxWaitMs: number;
}

export class Scheduler {
  private active = 0;
  private readonly queue: Waiter[] = [];
  private holdMs = 200; // EWMA of slot hold time, seeds the Retry-After estimate
  private closedError: unknown = null;

  constructor(private max: number, private readonly queueLimit: number) {}

  get inFlight(): number { return this.active; }
  get queued(): number { return this.queue.length; }
  get limit(): number { return this.max; }

  /** Lowers or raises the number of slots; holders above a lowered limit finish normally. */
  setLimit(limit: number): void {
    this.max = Math.max(1, limit);
    this.pump();
  }

  /** Seconds after which a retry has a fair chance: queue ahead of it times the mean hold time. */
  retryAfterSeconds(): number {
    const ahead = this.queue.length + this.active;
    return Math.min(60, Math.max(1, Math.ceil((this.holdMs * ahead) / this.max / 1000)));
  }

  acquire(options: AcquireOptions): Promise<Release> {
    if (this.closedError !== null) return Promise.reject(this.closedError);
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.active < this.max && this.queue.length === 0) return Promise.resolve(this.take());
    if (this.queue.length >= this.queueLimit) {
      return Promise.reject(new ProblemError('CAMERA_BUSY', {
        detail: `The camera queue is full (${this.queueLimit} waiting)`,
        retryAfter: this.retryAfterSeconds(),
      }));
    }
    return new Promise<Release>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const cleanup = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
      };
      const onAbort = (): void => { cleanup(); reject(signal!.reason); };
      const waiter: Waiter = {
        grant: (release) => { cleanup(); resolve(release); },
        fail: (err) => { cleanup(); reject(err); },
      };
      this.queue.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
      timer = setTimeout(() => {
        cleanup();
        reject(new ProblemError('CAMERA_BUSY', {
          detail: `No camera slot became free within ${options.maxWaitMs} ms`,
          retryAfter: this.retryAfterSeconds(),
        }));
        // a waiter that left may have been the head: let the next one in if a slot is free
        this.pump();
      }, options.maxWaitMs);
      timer.unref?.();
    });
  }

  /** Fails every queued waiter (client closing); holders finish normally. */
  close(err: unknown): void {
    this.closedError = err;
    for (const w of this.queue.splice(0)) w.fail(err);
  }

  private take(): Release {
    this.active++;
    const started = performance.now();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      this.holdMs = this.holdMs * 0.8 + (performance.now() - started) * 0.2;
      this.pump();
    };
  }

  private pump(): void {
    while (this.active < this.max && this.queue.length > 0) {
      const w = this.queue[0]!;
      w.grant(this.take());
    }
  }
}
