// ONVIF events (ver10 event.wsdl, WS-BaseNotification): PullPoint subscriptions and Basic
// Notification, both fed by the camera's one shared event attach (adapters/events/hub.ts).
//
// - A subscription subscribes to the hub; its first messages are the Initialized state of every
//   property instance (once the hub has read the camera's state), then Changed messages.
// - PullMessages holds until a message arrives, the Timeout (capped) passes or the client leaves;
//   a newer pull on the same subscription answers the older one empty. A pull keeps its
//   subscription alive: the termination time moves to at least now + the subscription's period.
// - Queues are bounded (oldest dropped); subscriptions past their termination time are reaped.
// - Basic Notification POSTs wsnt:Notify to the consumer with a timeout; a batch that fails is
//   retried with backoff, and the subscription is dropped after repeated failures. Consumer
//   addresses: http(s) only, no credentials, never the gateway's own listener, never link-local,
//   cloud metadata, multicast or unspecified addresses (checked on every connection, after DNS).
import { randomBytes } from 'node:crypto';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { Agent, request } from 'undici';
import type { CameraEntry } from '../../gateway/cameras.ts';
import { hubFor, type GatewayEvent, type Subscription as HubSubscription } from '../events/hub.ts';
import { counts } from './camera-facts.ts';
import type { OnvifContext, OnvifService } from './service.ts';
import { CONTENT_TYPE, invalidArg, NS, OnvifFault, renderEnvelope, type SoapVersion } from './soap.ts';
import { DIALECT, matchTopics, TopicFilterError, TOPICS, topicNsAttrs, topicsOfCode, topicSet, type TopicDef } from './topics.ts';
import { child, children, el, parseDuration, utcDateTime, type XmlNode, type XmlOut } from './xml.ts';

/** Limits (tests shorten some). */
export const eventSettings = {
  maxPullTimeoutMs: 60_000,
  /** Messages per PullMessages answer: 64 keep it under libonvif's 64 KB. */
  maxMessagesPerPull: 64,
  defaultPullTerminationMs: 60_000,
  defaultPushTerminationMs: 600_000,
  maxTerminationMs: 24 * 3600_000,
  maxQueue: 500,
  maxPullPoints: 64,
  maxPushSubscriptions: 16,
  /** How long a new subscription waits for the hub to read the camera's state before its Initialized messages. */
  syncWaitMs: 5_000,
  notifyTimeoutMs: 5_000,
  notifyMaxFailures: 3,
  notifyRetryMs: 1_000,
  reapIntervalMs: 1_000,
  /** Consumers on link-local and cloud metadata addresses (only for a deliberate setup). */
  allowLinkLocalConsumers: false,
};

export const eventStats = { notifySent: 0, notifyFailures: 0, dropped: 0, reaped: 0 };

type PropertyOperation = 'Initialized' | 'Changed' | 'Deleted';

interface Message {
  topic: TopicDef;
  channel: number;
  active: boolean;
  utc: number;
  op: PropertyOperation;
}

type Kind = 'pull' | 'push';

interface Waiter { wake(reason: 'message' | 'superseded' | 'closed'): void }

class EventSubscription {
  readonly queue: Message[] = [];
  /** Live events that arrive before the Initialized state is queued. */
  private early: Message[] | undefined = [];
  hubSub: HubSubscription | undefined;
  waiter: Waiter | undefined;
  closed = false;
  failures = 0;
  sending = false;
  flushScheduled = false;
  retryTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly id: string,
    readonly kind: Kind,
    /** Replaced when the camera is reconfigured (a new entry under the same id). */
    public entry: CameraEntry,
    readonly address: string,
    readonly topics: ReadonlySet<TopicDef>,
    public termination: number,
    /** The relative lifetime a pull or renew keeps the subscription alive for. */
    public periodMs: number,
    readonly changedOnly: boolean,
    readonly consumer: string | undefined,
    /** Notify goes out in the SOAP version the Subscribe came in. */
    readonly version: SoapVersion,
    readonly logger: OnvifContext['logger'],
  ) {}

  onEvent(e: GatewayEvent): void {
    if (e.action !== 'Start' && e.action !== 'Stop') return;
    const utc = Date.parse(e.gatewayTime);
    for (const topic of topicsOfCode(e.code)) {
      if (!this.topics.has(topic)) continue;
      this.deliver({ topic, channel: e.channel, active: e.action === 'Start', utc, op: 'Changed' });
    }
  }

  deliver(m: Message): void {
    if (this.closed) return;
    const queue = this.early ?? this.queue;
    queue.push(m);
    if (queue.length > eventSettings.maxQueue) {
      const n = queue.length - eventSettings.maxQueue;
      queue.splice(0, n);
      eventStats.dropped += n;
    }
    if (this.early) return;
    this.waiter?.wake('message');
    if (this.kind === 'push' && !this.flushScheduled) {
      // Messages queued in the same turn (a state dump, one camera event on two topics) go in one Notify.
      this.flushScheduled = true;
      setImmediate(() => { this.flushScheduled = false; void flush(this); });
    }
  }

  /** Holds live messages back until the next Initialized state is queued. */
  resync(): void {
    this.early ??= [];
  }

  /** Queues the Initialized state, then what arrived meanwhile. */
  markReady(initial: Message[]): void {
    const early = this.early ?? [];
    this.early = undefined;
    for (const m of [...initial, ...early]) this.deliver(m);
  }
}

const subscriptions = new Map<string, EventSubscription>();
let reaper: NodeJS.Timeout | undefined;

function countOf(entry: CameraEntry, kind: Kind): number {
  let n = 0;
  for (const s of subscriptions.values()) if (s.entry.id === entry.id && s.kind === kind) n++;
  return n;
}

/** Open subscriptions and held pulls (tests and metrics). */
export function eventServiceState(): { pullPoints: number; pushSubscriptions: number; pendingPulls: number } {
  let pull = 0; let push = 0; let pending = 0;
  for (const s of subscriptions.values()) {
    if (s.kind === 'pull') pull++; else push++;
    if (s.waiter) pending++;
  }
  return { pullPoints: pull, pushSubscriptions: push, pendingPulls: pending };
}

function endSubscription(sub: EventSubscription): void {
  if (sub.closed) return;
  sub.closed = true;
  subscriptions.delete(sub.id);
  sub.hubSub?.unsubscribe();
  sub.waiter?.wake('closed');
  if (sub.retryTimer !== undefined) clearTimeout(sub.retryTimer);
  if (subscriptions.size === 0 && reaper !== undefined) { clearInterval(reaper); reaper = undefined; }
}

function startReaper(): void {
  if (reaper !== undefined) return;
  reaper = setInterval(() => {
    const now = Date.now();
    for (const s of [...subscriptions.values()]) {
      // A held pull is a live client: it is never reaped under it.
      if (s.termination <= now && !s.waiter) { eventStats.reaped++; endSubscription(s); }
    }
  }, eventSettings.reapIntervalMs);
  reaper.unref?.();
}

// ---------------------------------------------------------------- current state

/** Video sources, alarm inputs and outputs (vendor §4.9.4, §4.9.5); a count the camera does not give is 0. */
async function instanceCounts(entry: CameraEntry): Promise<{ video: number; input: number; output: number }> {
  const read = (count: (e: CameraEntry) => Promise<number>): Promise<number> => count(entry).catch(() => 0);
  const [video, input, output] = await Promise.all([read(counts.videoSources), read(counts.alarmInputs), read(counts.alarmOutputs)]);
  return { video: Math.max(1, video), input, output };
}

/** Initialized messages for every instance of the subscription's topics, from the hub's state. */
async function stateMessages(sub: EventSubscription): Promise<Message[]> {
  const active = hubFor(sub.entry).currentState();
  const n = await instanceCounts(sub.entry);
  const utc = Date.now();
  const out: Message[] = [];
  for (const topic of TOPICS) {
    if (!sub.topics.has(topic)) continue;
    const channels = new Set<number>();
    const base = topic.instances === 'video' ? n.video : topic.instances === 'input' ? n.input : topic.instances === 'output' ? n.output : 0;
    for (let c = 1; c <= base; c++) channels.add(c);
    const on = new Set(active.filter((a) => topic.codes.includes(a.code)).map((a) => a.channel));
    for (const c of on) channels.add(c);
    for (const channel of [...channels].sort((a, b) => a - b)) out.push({ topic, channel, active: on.has(channel), utc, op: 'Initialized' });
  }
  return out;
}

/** Waits (briefly) for the hub to read the camera's state, then queues it. */
async function initialize(sub: EventSubscription): Promise<void> {
  const entry = sub.entry;
  const hub = hubFor(entry);
  const until = Date.now() + eventSettings.syncWaitMs;
  // A subscription that moved to a new entry meanwhile is initialised by that move.
  const stale = (): boolean => sub.closed || sub.entry !== entry;
  while (!hub.synchronised && !stale() && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
  if (stale()) return;
  const state = sub.changedOnly ? [] : await stateMessages(sub);
  if (!stale()) sub.markReady(state);
}

// ---------------------------------------------------------------- request parsing

function subscriptionOf(ctx: OnvifContext): EventSubscription {
  let id = /^subscription\/([A-Za-z0-9_-]{1,64})$/.exec(ctx.subpath)?.[1];
  // Clients that post to the events XAddr name the subscription in WS-Addressing To.
  id ??= /\/subscription\/([A-Za-z0-9_-]{1,64})\/?$/.exec(child(ctx.header, 'To', NS.wsa)?.text ?? '')?.[1];
  const sub = id === undefined ? undefined : subscriptions.get(id);
  if (sub && !sub.closed && sub.termination <= ctx.now() && !sub.waiter) endSubscription(sub);
  if (!sub || sub.closed || sub.entry.id !== ctx.entry.id) throw invalidArg('no such subscription (unknown, unsubscribed or expired)');
  return sub;
}

function isNil(node: XmlNode): boolean {
  return node.attrs.get(`{${NS.xsi}}nil`) === 'true';
}

/** wsnt:AbsoluteOrRelativeTimeType → { at, period }; undefined when absent or nil. */
function terminationOf(node: XmlNode | undefined, now: number, fault: string): { at: number; periodMs: number } | undefined {
  if (!node || isNil(node) || node.text === '') return undefined;
  const text = node.text;
  let at: number;
  if (/^-?P/.test(text)) {
    const ms = parseDuration(text);
    if (ms === undefined) throw invalidArg(`'${text.slice(0, 40)}' is not an xs:duration`);
    at = now + ms;
  } else {
    at = Date.parse(text);
    if (!/^\d{4}-\d{2}-\d{2}T/.test(text) || Number.isNaN(at)) throw invalidArg(`'${text.slice(0, 40)}' is not an xs:dateTime or xs:duration`);
  }
  if (at <= now) throw new OnvifFault('Sender', ['ter:InvalidArgVal', fault], 'the termination time is not in the future');
  at = Math.min(at, now + eventSettings.maxTerminationMs);
  return { at, periodMs: at - now };
}

/** The topics a wsnt:Filter selects; every topic without a filter. */
function topicsOf(filter: XmlNode | undefined): Set<TopicDef> {
  // By local name: some clients write it unqualified or in the events namespace.
  const expressions = children(filter, 'TopicExpression');
  if (expressions.length === 0) return new Set(TOPICS);
  const found = new Set<TopicDef>();
  for (const x of expressions) {
    try {
      for (const t of matchTopics(x.attrs.get('Dialect') ?? '', x.text, x.scope)) found.add(t);
    } catch (err) {
      if (!(err instanceof TopicFilterError)) throw err;
      const sub = err.kind === 'dialect' ? 'wsnt:TopicExpressionDialectUnknownFault' : err.kind === 'unsupported' ? 'wsnt:TopicNotSupportedFault' : 'wsnt:InvalidTopicExpressionFault';
      throw new OnvifFault('Sender', ['ter:InvalidArgVal', sub], err.message);
    }
  }
  return found;
}

function create(ctx: OnvifContext, request: XmlNode, kind: Kind, consumer: string | undefined): EventSubscription {
  const max = kind === 'pull' ? eventSettings.maxPullPoints : eventSettings.maxPushSubscriptions;
  const topics = topicsOf(child(request, 'Filter'));
  const now = ctx.now();
  const term = terminationOf(child(request, 'InitialTerminationTime'), now, 'wsnt:UnacceptableInitialTerminationTimeFault');
  if (countOf(ctx.entry, kind) >= max) {
    throw new OnvifFault('Receiver', ['ter:Action', 'wsnt:SubscribeCreationFailedFault'], `this camera has ${max} ${kind === 'pull' ? 'pull points' : 'notification subscriptions'} already`);
  }
  const periodMs = term?.periodMs ?? (kind === 'pull' ? eventSettings.defaultPullTerminationMs : eventSettings.defaultPushTerminationMs);
  const changedOnly = child(child(request, 'SubscriptionPolicy'), 'ChangedOnly', NS.tev) !== undefined;
  const id = randomBytes(16).toString('hex');
  const address = `${ctx.origin}/onvif/${ctx.entry.id}/subscription/${id}`;
  const sub = new EventSubscription(id, kind, ctx.entry, address, topics, term?.at ?? now + periodMs, periodMs, changedOnly, consumer, ctx.version, ctx.logger);
  subscriptions.set(id, sub);
  startReaper();
  attach(sub, ctx.cameras);
  return sub;
}

/**
 * Subscribes to the camera's hub and queues its state. When that hub closes because the camera
 * was reconfigured (a new entry under the same id), the subscription moves to the new entry's hub
 * and gets the state again; when the camera is gone (or the gateway stops), it ends.
 */
function attach(sub: EventSubscription, cameras: OnvifContext['cameras']): void {
  const codes = [...new Set([...sub.topics].flatMap((t) => t.codes))];
  const onClose = (): void => {
    const next = cameras.get(sub.entry.id);
    if (sub.closed || !next || next === sub.entry) { endSubscription(sub); return; }
    sub.entry = next;
    sub.resync();
    attach(sub, cameras);
  };
  sub.hubSub = hubFor(sub.entry).subscribe({ codes }, (e) => sub.onEvent(e), { onClose });
  if (sub.closed) { sub.hubSub.unsubscribe(); return; }
  void initialize(sub).catch((err: unknown) => sub.logger.warn({ err: String(err), camera: sub.entry.id }, 'ONVIF subscription state could not be read'));
}

// ---------------------------------------------------------------- messages on the wire

function notificationMessage(m: Message, subscriptionAddress?: string): XmlOut {
  return el('wsnt:NotificationMessage', [
    subscriptionAddress === undefined ? undefined : el('wsnt:SubscriptionReference', el('wsa:Address', subscriptionAddress)),
    el('wsnt:Topic', m.topic.topic, { Dialect: DIALECT.concreteSet, ...topicNsAttrs(m.topic) }),
    el('wsnt:Message', el('tt:Message', [
      el('tt:Source', m.topic.source.map((s) => el('tt:SimpleItem', undefined, { Name: s.name, Value: s.value(m.channel) }))),
      el('tt:Data', el('tt:SimpleItem', undefined, { Name: m.topic.data.name, Value: m.topic.data.value(m.active) })),
    ], { UtcTime: utcDateTime(m.utc), PropertyOperation: m.op })),
  ]);
}

// ---------------------------------------------------------------- pulls

async function holdPull(sub: EventSubscription, timeoutMs: number, signal: AbortSignal): Promise<boolean> {
  if (sub.queue.length > 0) return true;
  sub.waiter?.wake('superseded');
  return new Promise<boolean>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const waiter: Waiter = {
      wake: (reason) => {
        if (sub.waiter !== waiter) return;
        sub.waiter = undefined;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        resolve(reason === 'message');
      },
    };
    const onAbort = (): void => waiter.wake('closed');
    sub.waiter = waiter;
    timer = setTimeout(() => waiter.wake('closed'), timeoutMs);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
}

// ---------------------------------------------------------------- Basic Notification

const METADATA_HOSTS = new Set(['metadata', 'metadata.google.internal', 'instance-data', 'instance-data.ec2.internal', 'metadata.azure.com']);

/** Why an address may not receive notifications, or undefined when it may. */
export function forbiddenAddress(ip: string): string | undefined {
  const v4 = isIP(ip) === 4 ? ip : mappedV4(ip);
  if (v4) {
    const [a, b] = v4.split('.').map(Number) as [number, number];
    if (a === 0) return 'an unspecified address';
    if (a === 169 && b === 254) return 'a link-local (cloud metadata) address';
    if (v4 === '100.100.100.200') return 'a cloud metadata address';
    if (a >= 224) return 'a multicast or reserved address';
    return undefined;
  }
  const v6 = ip.toLowerCase();
  if (v6 === '::') return 'an unspecified address';
  if (/^fe[89ab]/.test(v6)) return 'a link-local address';
  if (/^ff/.test(v6)) return 'a multicast address';
  if (v6 === 'fd00:ec2::254') return 'a cloud metadata address';
  return undefined;
}

/** The IPv4 address inside an IPv4-mapped IPv6 one (`::ffff:1.2.3.4`, or `::ffff:102:304` as URLs write it). */
function mappedV4(ip: string): string | undefined {
  const dotted = /^(?:0{0,4}:){0,4}:?:ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1];
  if (dotted) return dotted;
  const hex = /^(?:0{0,4}:){0,4}:?:ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(ip);
  if (!hex) return undefined;
  const hi = parseInt(hex[1]!, 16);
  const lo = parseInt(hex[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

function isLocalAddress(ip: string): boolean {
  if (/^127\./.test(ip) || ip === '::1' || /^127\./.test(mappedV4(ip) ?? '')) return true;
  for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) if (i.address === ip) return true;
  return false;
}

function portOf(url: URL): number {
  return url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}

/** Checks a consumer address (syntax and, after DNS, every address it names). */
async function checkConsumer(address: string, origin: string): Promise<URL> {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw invalidArg('the ConsumerReference address is not a URL', 'wsnt:SubscribeCreationFailedFault');
  }
  const refuse = (why: string): OnvifFault => invalidArg(`the ConsumerReference address is refused: ${why}`, 'wsnt:SubscribeCreationFailedFault');
  if (address.length > 2048) throw refuse('longer than 2048 characters');
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw refuse('only http and https consumers are accepted');
  if (url.username !== '' || url.password !== '') throw refuse('credentials in the address');
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (METADATA_HOSTS.has(host) && !eventSettings.allowLinkLocalConsumers) throw refuse('a cloud metadata host');
  const own = new URL(origin);
  if (url.host.toLowerCase() === own.host.toLowerCase() && portOf(url) === portOf(own)) throw refuse('the gateway itself');
  let addresses: string[];
  try {
    addresses = isIP(host) ? [host] : (await new Promise<LookupAddress[]>((res, rej) => dnsLookup(host, { all: true }, (e, a) => (e ? rej(e) : res(a))))).map((a) => a.address);
  } catch {
    throw refuse('the host name does not resolve');
  }
  for (const ip of addresses) {
    const why = forbiddenAddress(ip);
    if (why && !eventSettings.allowLinkLocalConsumers) throw refuse(why);
    if (isLocalAddress(ip) && portOf(url) === portOf(own)) throw refuse('the gateway itself');
  }
  return url;
}

/** Connections to consumers check the resolved address again, so DNS cannot point them elsewhere later. */
const notifyAgent = new Agent({
  connect: {
    lookup: (hostname: string, options: object, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void) => {
      dnsLookup(hostname, { ...options, all: true }, (err, list) => {
        if (err) return callback(err, []);
        const bad = list.find((a) => forbiddenAddress(a.address) !== undefined);
        if (bad && !eventSettings.allowLinkLocalConsumers) return callback(Object.assign(new Error(`consumer address ${bad.address} is refused`), { code: 'EACCES' }), []);
        const all = (options as { all?: boolean }).all === true;
        return all ? callback(null, list) : callback(null, list[0]!.address, list[0]!.family);
      });
    },
  },
});

async function sendNotify(sub: EventSubscription, batch: Message[]): Promise<boolean> {
  const body = el('wsnt:Notify', batch.map((m) => notificationMessage(m, sub.address)));
  const header = [
    el('wsa:Action', 'http://docs.oasis-open.org/wsn/bw-2/NotificationConsumer/Notify'),
    el('wsa:To', sub.consumer!),
  ];
  const xml = renderEnvelope(sub.version, body, header);
  try {
    const ip = new URL(sub.consumer!).hostname.replace(/^\[|\]$/g, '');
    if (isIP(ip) && forbiddenAddress(ip) && !eventSettings.allowLinkLocalConsumers) return false;
    const res = await request(sub.consumer!, {
      method: 'POST',
      dispatcher: notifyAgent,
      headers: { 'content-type': CONTENT_TYPE[sub.version] },
      body: xml,
      headersTimeout: eventSettings.notifyTimeoutMs,
      bodyTimeout: eventSettings.notifyTimeoutMs,
      signal: AbortSignal.timeout(eventSettings.notifyTimeoutMs),
    });
    await res.body.dump().catch(() => undefined);
    return res.statusCode >= 200 && res.statusCode < 300;
  } catch {
    return false;
  }
}

async function flush(sub: EventSubscription): Promise<void> {
  if (sub.sending || sub.closed || sub.retryTimer !== undefined) return;
  sub.sending = true;
  try {
    while (sub.queue.length > 0 && !sub.closed) {
      const batch = sub.queue.splice(0, eventSettings.maxMessagesPerPull);
      if (await sendNotify(sub, batch)) {
        sub.failures = 0;
        eventStats.notifySent += batch.length;
        continue;
      }
      sub.failures++;
      eventStats.notifyFailures++;
      if (sub.failures >= eventSettings.notifyMaxFailures) {
        sub.logger.warn({ camera: sub.entry.id, consumer: new URL(sub.consumer!).host, failures: sub.failures }, 'ONVIF notification consumer keeps failing: subscription dropped');
        endSubscription(sub);
        return;
      }
      // Kept for the retry (the state must not be lost), after a growing pause.
      sub.queue.unshift(...batch);
      sub.retryTimer = setTimeout(() => { sub.retryTimer = undefined; void flush(sub); }, eventSettings.notifyRetryMs * sub.failures);
      sub.retryTimer.unref?.();
      return;
    }
  } finally {
    sub.sending = false;
  }
}

// ---------------------------------------------------------------- the service

async function capabilities(): Promise<XmlOut> {
  return el('tev:Capabilities', undefined, {
    WSSubscriptionPolicySupport: true,
    WSPausableSubscriptionManagerInterfaceSupport: false,
    MaxNotificationProducers: eventSettings.maxPushSubscriptions,
    MaxPullPoints: eventSettings.maxPullPoints,
    PersistentNotificationStorage: false,
  });
}

export const eventsService: OnvifService = {
  key: 'events',
  ns: NS.tev,
  path: 'events_service',
  version: { major: 2, minor: 6 },
  available: async () => true,
  capabilities,
  operations: [
    {
      name: 'GetServiceCapabilities',
      access: 'preauth',
      handle: async () => el('tev:GetServiceCapabilitiesResponse', await capabilities()),
    },
    {
      name: 'GetEventProperties',
      access: 'viewer',
      handle: async () =>
        el('tev:GetEventPropertiesResponse', [
          el('tev:TopicNamespaceLocation', 'http://www.onvif.org/onvif/ver10/topics/topicns.xml'),
          el('wsnt:FixedTopicSet', true),
          topicSet(),
          el('wsnt:TopicExpressionDialect', DIALECT.concrete),
          el('wsnt:TopicExpressionDialect', DIALECT.concreteSet),
          el('wsnt:TopicExpressionDialect', DIALECT.simple),
          // No message content filtering: one empty URI, as the WSDL asks of such devices.
          el('tev:MessageContentFilterDialect', ''),
          el('tev:MessageContentSchemaLocation', 'http://www.onvif.org/onvif/ver10/schema/onvif.xsd'),
        ]),
    },
    {
      name: 'CreatePullPointSubscription',
      access: 'viewer',
      handle: async (req, ctx) => {
        const sub = create(ctx, req, 'pull', undefined);
        return el('tev:CreatePullPointSubscriptionResponse', [
          el('tev:SubscriptionReference', el('wsa:Address', sub.address)),
          el('wsnt:CurrentTime', utcDateTime(ctx.now())),
          el('wsnt:TerminationTime', utcDateTime(sub.termination)),
        ]);
      },
    },
    {
      name: 'PullMessages',
      access: 'viewer',
      handle: async (req, ctx) => {
        const sub = subscriptionOf(ctx);
        if (sub.kind !== 'pull') throw invalidArg('this subscription delivers by Notify: it has no pull point');
        const timeoutText = child(req, 'Timeout')?.text;
        const requested = timeoutText === undefined || timeoutText === '' ? 10_000 : parseDuration(timeoutText);
        if (requested === undefined) throw invalidArg(`Timeout '${timeoutText!.slice(0, 40)}' is not an xs:duration`);
        const limitText = child(req, 'MessageLimit')?.text;
        const limit = limitText === undefined || limitText === '' ? eventSettings.maxMessagesPerPull : Number(limitText);
        if (!Number.isInteger(limit)) throw invalidArg(`MessageLimit '${limitText!.slice(0, 20)}' is not an integer`);
        const timeoutMs = Math.min(requested, eventSettings.maxPullTimeoutMs);
        const got = await holdPull(sub, timeoutMs, ctx.signal);
        const now = ctx.now();
        const messages = got && !ctx.signal.aborted ? sub.queue.splice(0, Math.max(1, Math.min(limit, eventSettings.maxMessagesPerPull))) : [];
        if (!sub.closed) sub.termination = Math.max(sub.termination, now + sub.periodMs);
        return el('tev:PullMessagesResponse', [
          el('tev:CurrentTime', utcDateTime(now)),
          el('tev:TerminationTime', utcDateTime(sub.termination)),
          messages.map((m) => notificationMessage(m)),
        ]);
      },
    },
    {
      name: 'SetSynchronizationPoint',
      access: 'viewer',
      handle: async (_req, ctx) => {
        const sub = subscriptionOf(ctx);
        for (const m of await stateMessages(sub)) sub.deliver(m);
        return el('tev:SetSynchronizationPointResponse');
      },
    },
    {
      name: 'Subscribe',
      ns: NS.wsnt,
      access: 'viewer',
      handle: async (req, ctx) => {
        const address = child(child(req, 'ConsumerReference'), 'Address')?.text ?? '';
        if (address === '') throw invalidArg('Subscribe needs a ConsumerReference with an Address', 'wsnt:SubscribeCreationFailedFault');
        const url = await checkConsumer(address, ctx.origin);
        const sub = create(ctx, req, 'push', url.href);
        return el('wsnt:SubscribeResponse', [
          el('wsnt:SubscriptionReference', el('wsa:Address', sub.address)),
          el('wsnt:CurrentTime', utcDateTime(ctx.now())),
          el('wsnt:TerminationTime', utcDateTime(sub.termination)),
        ]);
      },
    },
    {
      name: 'Renew',
      ns: NS.wsnt,
      access: 'viewer',
      handle: async (req, ctx) => {
        const sub = subscriptionOf(ctx);
        const now = ctx.now();
        const term = terminationOf(child(req, 'TerminationTime'), now, 'wsnt:UnacceptableTerminationTimeFault');
        sub.periodMs = term?.periodMs ?? (sub.kind === 'pull' ? eventSettings.defaultPullTerminationMs : eventSettings.defaultPushTerminationMs);
        sub.termination = term?.at ?? now + sub.periodMs;
        return el('wsnt:RenewResponse', [
          el('wsnt:TerminationTime', utcDateTime(sub.termination)),
          el('wsnt:CurrentTime', utcDateTime(now)),
        ]);
      },
    },
    {
      name: 'Unsubscribe',
      ns: NS.wsnt,
      access: 'viewer',
      handle: async (_req, ctx) => {
        endSubscription(subscriptionOf(ctx));
        return el('wsnt:UnsubscribeResponse');
      },
    },
  ],
  close: (entry) => {
    for (const s of [...subscriptions.values()]) if (!entry || s.entry.id === entry.id) endSubscription(s);
  },
};

