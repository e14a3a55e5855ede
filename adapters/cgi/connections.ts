// The keep-alive connections to one camera: a small set of undici Clients (one socket each)
// that we pick ourselves, oldest free first.
//
// Why not undici's Pool: with pipelining 1, a Client waits a full event-loop turn
// (setImmediate in client-h1 onMessageComplete) before it reports itself free again, and Pool
// meanwhile hands the next request to another (new) connection. Measured against the simulator:
// two back-to-back sequential calls used two connections. On cameras that answer 401 to
// connections over their cap, that turns into spurious auth refusals. Here a connection is free as
// soon as its answer has been read; a request given to it waits inside the Client for that turn
// and goes out on the same socket.

import { Client } from 'undici';

export interface Connection {
  readonly id: number;
  readonly client: Client;
  /** Requests given to this connection and not finished yet. */
  pending: number;
  retired: boolean;
}

export class ConnectionSet {
  private readonly conns: Connection[] = [];
  private nextId = 1;
  private cap: number;

  constructor(
    private readonly origin: string,
    private readonly options: Client.Options,
    private readonly max: number,
  ) {
    this.cap = max;
  }

  /** How many connections may be open; lowered when the camera turns connections away. */
  get budget(): number { return this.cap; }
  get size(): number { return this.conns.length; }

  setBudget(n: number): void {
    this.cap = Math.max(1, Math.min(this.max, n));
    // Idle connections over the budget go now, busy ones when they finish.
    for (const c of [...this.conns].reverse()) {
      if (this.conns.length <= this.cap) break;
      if (c.pending === 0) this.retire(c);
    }
  }

  /** Oldest free connection; a new one while under budget; else the least loaded (it queues). */
  acquire(): Connection {
    let best: Connection | undefined;
    for (const c of this.conns) {
      if (c.pending === 0) { best = c; break; }
    }
    if (best === undefined && this.conns.length < this.cap) {
      best = { id: this.nextId++, client: new Client(this.origin, this.options), pending: 0, retired: false };
      this.conns.push(best);
    }
    if (best === undefined) {
      for (const c of this.conns) if (best === undefined || c.pending < best.pending) best = c;
    }
    best!.pending++;
    return best!;
  }

  release(conn: Connection): void {
    conn.pending--;
    if (conn.pending === 0 && !conn.retired && this.conns.length > this.cap && this.conns.indexOf(conn) >= this.cap) this.retire(conn);
  }

  /** Closes a connection once its requests are done, so the camera gets its slot back. */
  retire(conn: Connection): void {
    if (conn.retired) return;
    conn.retired = true;
    const i = this.conns.indexOf(conn);
    if (i >= 0) this.conns.splice(i, 1);
    conn.client.close().catch(() => undefined);
  }

  async close(graceMs: number): Promise<void> {
    const all = this.conns.splice(0);
    let timer: NodeJS.Timeout | undefined;
    const graceful = Promise.all(all.map((c) => c.client.close().catch(() => undefined))).then(() => true);
    const late = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), graceMs); });
    const ok = await Promise.race([graceful, late]);
    if (timer !== undefined) clearTimeout(timer);
    if (!ok) await Promise.all(all.map((c) => c.client.destroy().catch(() => undefined)));
  }
}
