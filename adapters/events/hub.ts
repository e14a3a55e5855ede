// One event attach per camera (vendor §4.9.17), shared by every consumer: SSE clients today, the
// ONVIF event services later (design.md §4 "Events").
//
// - Opened with the first subscriber, closed after the last one leaves; the hub object (its
//   ring and ids) outlives the attach, so Last-Event-ID replay works across quiet periods.
// - Codes `All` upstream, filtered here by code and channel.
// - A watchdog at 2.5x the keepalive: a silent stream is dropped and reopened with jittered
//   exponential backoff.
// - After every (re)connect the active-state table is resynchronised with getEventIndexes
//   (§4.9.16) for each known code; what ended (or began) while we were away is emitted as
//   synthetic Stop (Start) events.
import type { Readable } from 'node:stream';
import type { Camera } from '../cgi/camera.ts';
import type { CameraClient, CgiLongStream } from '../cgi/client.ts';
import { cameraErrorFromBody } from '../cgi/errors.ts';
import { boundaryFromContentType, MultipartParser, parseEventInfo, type EventInfo } from '../cgi/multipart.ts';
import { parseKeyValue } from '../cgi/codec.ts';

/** An event as consumers see it. */
export interface GatewayEvent {
  /** Increasing per camera; the SSE `id:`. */
  id: number;
  cameraId: string;
  code: string;
  action: string;
  /** Counted from 1 (the camera's index + 1). */
  channel: number;
  data?: unknown;
  /** The camera's own time of the event, when its data carries one (ISO 8601, camera local time). */
  cameraTime: string | null;
  /** When the gateway received (or synthesised) it. */
  gatewayTime: string;
  /** Not sent by the camera: derived from a resynchronisation after a reconnect. */
  synthetic: boolean;
}

export interface ActiveEvent {
  code: string;
  channel: number;
  since: string;
  data?: unknown;
}

export interface EventFilter {
  codes?: readonly string[];
  channels?: readonly number[];
}

export interface Subscription {
  unsubscribe(): void;
}

export interface SubscribeOptions {
  /** Replay buffered events with a larger id first (Last-Event-ID). */
  afterId?: number;
  /** Called when the hub is closed for good (gateway stop). */
  onClose?: () => void;
}

export interface EventHubOptions {
  keepaliveSeconds?: number;   // 10; sent as keepalive=, the watchdog fires at 2.5x
  ringSize?: number;           // 1000
  backoffMinMs?: number;       // 500
  backoffMaxMs?: number;       // 30_000
  watchdogFactor?: number;     // 2.5
  logger?: { debug(o: object, m?: string): void; warn(o: object, m?: string): void };
  now?: () => number;
}

export interface EventHubStats {
  attaches: number;
  reconnects: number;
  stalls: number;
  events: number;
  synthetic: number;
  heartbeats: number;
  unreadable: number;
}

/** The codes of §4.9.16 (getEventIndexes); codes seen on the stream are added. */
export const INDEXED_CODES = ['VideoMotion', 'VideoLoss', 'VideoBlind', 'AlarmLocal', 'StorageNotExist', 'StorageFailure', 'StorageLowSpace', 'AlarmOutput'];

const EVENT_MANAGER = '/cgi-bin/eventManager.cgi';

interface Subscriber {
  filter: EventFilter;
  codes: Set<string> | null;
  channels: Set<number> | null;
  onEvent: (e: GatewayEvent) => void;
  onClose: (() => void) | undefined;
}

/** getEventIndexes for one code: the active indexes, counted from 0. An empty answer is none. */
export async function eventIndexes(camera: Camera, code: string, signal?: AbortSignal): Promise<number[]> {
  const body = await camera.call(EVENT_MANAGER, [['action', 'getEventIndexes'], ['code', code]], signal ? { signal } : {});
  const { doc } = parseKeyValue(body);
  const list = doc.channels;
  const values = Array.isArray(list) ? list : typeof list === 'string' ? [list] : [];
  return values.map((v) => (typeof v === 'string' ? Number(v.trim()) : NaN)).filter((n) => Number.isInteger(n) && n >= 0);
}

/** Camera local time from an event's data (`LocaleTime` "2026-11-25 10:00:00", or `UTC` seconds). */
function cameraTimeOf(data: unknown): string | null {
  if (data === null || typeof data !== 'object') return null;
  const d = data as Record<string, unknown>;
  if (typeof d.LocaleTime === 'string') {
    const m = /^(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2}):(\d{2}):(\d{2})$/.exec(d.LocaleTime.trim());
    if (m) {
      const p = (s: string) => s.padStart(2, '0');
      return `${m[1]}-${p(m[2]!)}-${p(m[3]!)}T${p(m[4]!)}:${m[5]}:${m[6]}`;
    }
  }
  if (typeof d.UTC === 'number' && Number.isFinite(d.UTC)) return new Date(d.UTC * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return null;
}

function key(code: string, channel: number): string {
  return `${code}\u0000${channel}`;
}

export class EventHub {
  readonly stats: EventHubStats = { attaches: 0, reconnects: 0, stalls: 0, events: 0, synthetic: 0, heartbeats: 0, unreadable: 0 };
  private readonly subscribers = new Set<Subscriber>();
  private readonly ring: GatewayEvent[] = [];
  private readonly active = new Map<string, ActiveEvent>();
  private readonly knownCodes = new Set(INDEXED_CODES);
  private readonly opts: Required<Omit<EventHubOptions, 'logger'>> & Pick<EventHubOptions, 'logger'>;
  private nextId = 1;
  private running = false;
  private runner: Promise<void> | undefined;
  private abort: AbortController | undefined;
  private closed = false;
  private connectedFlag = false;
  private synced = false;
  private everSynced = false;

  constructor(readonly cameraId: string, private readonly camera: Camera, private readonly client: CameraClient, options: EventHubOptions = {}) {
    this.opts = {
      keepaliveSeconds: options.keepaliveSeconds ?? 10,
      ringSize: options.ringSize ?? 1000,
      backoffMinMs: options.backoffMinMs ?? 500,
      backoffMaxMs: options.backoffMaxMs ?? 30_000,
      watchdogFactor: options.watchdogFactor ?? 2.5,
      now: options.now ?? Date.now,
      logger: options.logger,
    };
  }

  /** Whether the upstream attach is open now. */
  get connected(): boolean { return this.connectedFlag; }
  get subscriberCount(): number { return this.subscribers.size; }
  /** Whether the active-state table has been read from the camera since the attach opened. */
  get synchronised(): boolean { return this.synced; }

  /**
   * Calls onEvent for every event that passes the filter until unsubscribe(). With afterId,
   * buffered events after that id are delivered first (synchronously, before any live one).
   */
  subscribe(filter: EventFilter, onEvent: (e: GatewayEvent) => void, options: SubscribeOptions = {}): Subscription {
    if (this.closed) {
      options.onClose?.();
      return { unsubscribe: () => undefined };
    }
    const sub: Subscriber = {
      filter,
      codes: filter.codes && filter.codes.length > 0 ? new Set(filter.codes.map((c) => c.toLowerCase())) : null,
      channels: filter.channels && filter.channels.length > 0 ? new Set(filter.channels) : null,
      onEvent,
      onClose: options.onClose,
    };
    if (options.afterId !== undefined) {
      for (const e of this.ring) if (e.id > options.afterId && this.matches(sub, e)) this.deliver(sub, e);
    }
    this.subscribers.add(sub);
    if (!this.running) this.start();
    return {
      unsubscribe: () => {
        if (!this.subscribers.delete(sub)) return;
        if (this.subscribers.size === 0) this.stop();
      },
    };
  }

  /** Buffered events after `afterId` that pass the filter. */
  since(afterId: number, filter: EventFilter = {}): GatewayEvent[] {
    const sub: Subscriber = {
      filter, onEvent: () => undefined, onClose: undefined,
      codes: filter.codes?.length ? new Set(filter.codes.map((c) => c.toLowerCase())) : null,
      channels: filter.channels?.length ? new Set(filter.channels) : null,
    };
    return this.ring.filter((e) => e.id > afterId && this.matches(sub, e));
  }

  /** What is active now, as far as the hub knows (it knows only while attached). */
  currentState(): ActiveEvent[] {
    return [...this.active.values()].sort((a, b) => (a.code === b.code ? a.channel - b.channel : a.code < b.code ? -1 : 1));
  }

  /** The id the next event will get. */
  get lastId(): number { return this.nextId - 1; }

  /** Ends every subscription (their onClose runs) and the upstream for good. */
  async close(): Promise<void> {
    this.closed = true;
    const subs = [...this.subscribers];
    this.subscribers.clear();
    this.stop();
    for (const s of subs) {
      try { s.onClose?.(); } catch { /* a consumer's failure is its own */ }
    }
    await this.runner;
  }

  // ---------------------------------------------------------------- upstream

  private start(): void {
    this.running = true;
    const abort = new AbortController();
    this.abort = abort;
    const previous = this.runner ?? Promise.resolve();
    this.runner = previous.then(() => this.loop(abort.signal)).catch((err: unknown) => {
      this.opts.logger?.warn({ camera: this.cameraId, err: String(err) }, 'event hub loop failed');
    });
  }

  private stop(): void {
    this.running = false;
    this.abort?.abort();
    this.abort = undefined;
  }

  private async loop(signal: AbortSignal): Promise<void> {
    let failures = 0;
    let first = true;
    while (!signal.aborted) {
      if (!first) this.stats.reconnects++;
      first = false;
      let healthy = false;
      try {
        healthy = await this.attachOnce(signal);
      } catch (err) {
        if (signal.aborted) break;
        this.opts.logger?.debug({ camera: this.cameraId, err: err instanceof Error ? err.message : String(err) }, 'event attach failed');
      }
      this.connectedFlag = false;
      this.synced = false;
      if (signal.aborted) break;
      failures = healthy ? 0 : failures + 1;
      // Full jitter over [d/2, d]: many gateways restarting together do not reconnect in step.
      const d = Math.min(this.opts.backoffMaxMs, this.opts.backoffMinMs * 2 ** Math.min(failures, 16));
      await sleep(d / 2 + Math.random() * (d / 2), signal);
    }
  }

  /** One attach until it ends; true when it delivered data (the backoff starts over). */
  private async attachOnce(signal: AbortSignal): Promise<boolean> {
    const ka = this.opts.keepaliveSeconds;
    const stream: CgiLongStream = await this.client.openStream({
      path: EVENT_MANAGER,
      // Brackets literal, as the vendor's syntax writes them.
      query: `action=attach&codes=[All]&keepalive=${ka}`,
      signal,
      timeoutMs: 6_000,
    });
    this.stats.attaches++;
    const body = stream.body as Readable;
    try {
      const boundary = boundaryFromContentType(stream.headers['content-type']);
      if (stream.status !== 200 || boundary === null) {
        let text = '';
        for await (const chunk of body) {
          text += (chunk as Buffer).toString('latin1');
          if (text.length > 4096) break;
        }
        const problem = cameraErrorFromBody(text);
        throw problem ?? new Error(`the camera answered the attach with ${stream.status} ${String(stream.headers['content-type'])}`);
      }
      this.connectedFlag = true;
      const parser = new MultipartParser(boundary);
      let gotData = false;
      const watchdogMs = ka * 1000 * this.opts.watchdogFactor;
      let watchdog: NodeJS.Timeout | undefined;
      const arm = (): void => {
        if (watchdog !== undefined) clearTimeout(watchdog);
        watchdog = setTimeout(() => {
          this.stats.stalls++;
          this.opts.logger?.warn({ camera: this.cameraId, silentMs: watchdogMs }, 'event stream went silent: reconnecting');
          stream.close();
        }, watchdogMs);
      };
      arm();
      const resync = this.resync(signal).catch(() => undefined);
      try {
        for await (const chunk of body) {
          arm();
          gotData = true;
          for (const part of parser.push(chunk as Buffer)) this.onPart(part.body.toString('utf8'));
        }
        for (const part of parser.end()) this.onPart(part.body.toString('utf8'));
      } catch (err) {
        if (!signal.aborted && !gotData) throw err;
      } finally {
        if (watchdog !== undefined) clearTimeout(watchdog);
        await resync;
      }
      return gotData;
    } finally {
      stream.close();
    }
  }

  private touched = new Set<string>();
  private resyncing = false;

  private onPart(text: string): void {
    const parsed = parseEventInfo(text);
    if (parsed.kind === 'heartbeat') { this.stats.heartbeats++; return; }
    if (parsed.kind === 'unknown') {
      this.stats.unreadable++;
      this.opts.logger?.debug({ camera: this.cameraId, part: parsed.text.slice(0, 100) }, 'unreadable event part');
      return;
    }
    this.onEvent(parsed.event);
  }

  private onEvent(info: EventInfo): void {
    const channel = info.index + 1;
    // Only state events are worth asking getEventIndexes about after a reconnect.
    if (info.action === 'Start' || info.action === 'Stop') this.knownCodes.add(info.code);
    if (this.resyncing) this.touched.add(key(info.code, channel));
    const gatewayTime = new Date(this.opts.now()).toISOString();
    const event = this.emit({
      code: info.code, action: info.action, channel, cameraTime: cameraTimeOf(info.data), gatewayTime, synthetic: false,
      ...(info.data !== undefined ? { data: info.data } : {}),
    });
    const k = key(info.code, channel);
    if (info.action === 'Start') {
      const entry: ActiveEvent = { code: info.code, channel, since: event.gatewayTime };
      if (info.data !== undefined) entry.data = info.data;
      this.active.set(k, entry);
    } else if (info.action === 'Stop') {
      this.active.delete(k);
    }
  }

  private emit(fields: Omit<GatewayEvent, 'id' | 'cameraId'>): GatewayEvent {
    const event: GatewayEvent = { id: this.nextId++, cameraId: this.cameraId, ...fields };
    this.stats.events++;
    this.ring.push(event);
    if (this.ring.length > this.opts.ringSize) this.ring.splice(0, this.ring.length - this.opts.ringSize);
    for (const s of this.subscribers) if (this.matches(s, event)) this.deliver(s, event);
    return event;
  }

  /** Reads the active state of every known code; emits synthetic Stop/Start for the differences. */
  private async resync(signal: AbortSignal): Promise<void> {
    // The first table read only seeds the state: nothing "changed" before we knew anything.
    const silent = !this.everSynced;
    this.resyncing = true;
    this.touched.clear();
    try {
      for (const code of [...this.knownCodes]) {
        if (signal.aborted) return;
        let indexes: number[];
        try {
          indexes = await eventIndexes(this.camera, code, signal);
        } catch {
          continue;   // "Not all events support this command" (§4.9.16): that code's state stays as it is
        }
        const now = new Set(indexes.map((i) => i + 1));
        const gatewayTime = new Date(this.opts.now()).toISOString();
        for (const [k, entry] of [...this.active]) {
          if (entry.code !== code || now.has(entry.channel) || this.touched.has(k)) continue;
          this.active.delete(k);
          if (silent) continue;
          this.stats.synthetic++;
          this.emit({ code, action: 'Stop', channel: entry.channel, cameraTime: null, gatewayTime, synthetic: true });
        }
        for (const channel of now) {
          const k = key(code, channel);
          if (this.active.has(k) || this.touched.has(k)) continue;
          this.active.set(k, { code, channel, since: gatewayTime });
          if (silent) continue;
          this.stats.synthetic++;
          this.emit({ code, action: 'Start', channel, cameraTime: null, gatewayTime, synthetic: true });
        }
      }
      this.synced = true;
      this.everSynced = true;
    } finally {
      this.resyncing = false;
    }
  }

  private matches(s: Subscriber, e: GatewayEvent): boolean {
    if (s.codes !== null && !s.codes.has(e.code.toLowerCase())) return false;
    if (s.channels !== null && !s.channels.has(e.channel)) return false;
    return true;
  }

  private deliver(s: Subscriber, e: GatewayEvent): void {
    try {
      s.onEvent(e);
    } catch (err) {
      this.opts.logger?.warn({ camera: this.cameraId, err: String(err) }, 'event subscriber failed');
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) { resolve(); return; }
    const timer = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = (): void => { clearTimeout(timer); resolve(); };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

// ---------------------------------------------------------------- one hub per camera

interface HubOwner { id: string; camera: Camera; client: CameraClient }

const hubs = new Map<HubOwner, EventHub>();

/** Hub settings for new hubs (tests shorten the keepalive). */
export const hubDefaults: EventHubOptions = {};

/** The camera's hub, created on first use; it attaches only while someone subscribes. */
export function hubFor(entry: HubOwner): EventHub {
  let hub = hubs.get(entry);
  if (!hub) {
    hub = new EventHub(entry.id, entry.camera, entry.client, { logger: entry.client.logger, ...hubDefaults });
    hubs.set(entry, hub);
  }
  return hub;
}

/** The hub of an entry if one exists (no side effects). */
export function existingHub(entry: HubOwner): EventHub | undefined {
  return hubs.get(entry);
}

/**
 * Closes hubs (gateway stop, test teardown): ends every subscription, so SSE responses finish,
 * and every upstream attach. Without `owners`, all of them.
 */
export async function closeAll(owners?: Iterable<HubOwner>): Promise<void> {
  const list = owners ? [...owners].filter((o) => hubs.has(o)) : [...hubs.keys()];
  await Promise.all(list.map(async (o) => {
    const hub = hubs.get(o)!;
    hubs.delete(o);
    await hub.close();
  }));
}
