// WS-Discovery (2005/04, SOAP over UDP, design.md §6): answers Probe for every camera of the
// registry with one ProbeMatches message each (clients read one XAddrs per message), unicast to
// the sender; multicasts Hello at start and Bye at stop. Most VMS and Debian's onvif-util find
// devices only this way.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { randomUUID } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import type { CameraEntry } from '../../gateway/cameras.ts';
import type { Logger } from '../../gateway/logger.ts';
import { discoveryChanges, discoveryModeOf, scopesOf } from './device.ts';
import { endpointReference } from './identity.ts';
import { NS } from './soap.ts';
import { child, el, parseXml, renderXml, type XmlChild, type XmlNode } from './xml.ts';

export const WSD = {
  discovery: 'http://schemas.xmlsoap.org/ws/2005/04/discovery',
  addressing: 'http://schemas.xmlsoap.org/ws/2004/08/addressing',
  network: 'http://www.onvif.org/ver10/network/wsdl',
  /** The multicast "To" of Hello, Bye and Probe. */
  to: 'urn:schemas-xmlsoap-org:ws:2005:04:discovery',
  anonymous: 'http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous',
  rfc3986: 'http://schemas.xmlsoap.org/ws/2005/04/discovery/rfc3986',
  strcmp0: 'http://schemas.xmlsoap.org/ws/2005/04/discovery/strcmp0',
} as const;

export const MULTICAST_GROUP = '239.255.255.250';
export const DISCOVERY_PORT = 3702;

/** The types every camera answers to, as {namespace, local name}. */
const TYPES = [
  { ns: WSD.network, local: 'NetworkVideoTransmitter', qname: 'dn:NetworkVideoTransmitter' },
  { ns: NS.tds, local: 'Device', qname: 'tds:Device' },
] as const;

/** Probes answered per second at most: a small Probe fans out to one answer per camera (reflection). */
const PROBES_PER_SECOND = 20;
/** Datagrams parsed per second at most (a flood costs no more than this much XML parsing). */
const DATAGRAMS_PER_SECOND = 200;
/** SOAP-over-UDP retransmissions repeat the MessageID: answer each (sender, MessageID) once. */
const DUPLICATE_WINDOW_MS = 2_000;
const MAX_DATAGRAM = 32 * 1024;

export interface DiscoveryOptions {
  /** The cameras, read at every Probe (cameras come and go at run time). */
  cameras: () => readonly CameraEntry[];
  /** Port of the HTTP listener, for XAddrs. */
  httpPort: number;
  /** Address the HTTP listener is bound to; a specific one is used in XAddrs, a wildcard is not. */
  httpHost?: string;
  /** `http://host:port` to put in XAddrs instead of the address the Probe arrived on. */
  publicOrigin?: string;
  /** A camera's own ONVIF port (`cameras[].onvifPort`), listed first in its XAddrs. */
  cameraPort?: (cameraId: string) => number | undefined;
  logger: Logger;
  enabled?: boolean;
  /** UDP port (default 3702; 0 = ephemeral, for tests). */
  port?: number;
  /** Address to bind (default all). */
  bindAddress?: string;
  /** Join the multicast group and send Hello/Bye (default true). */
  multicast?: boolean;
  /** Upper bound of the random delay before a ProbeMatches (WS-Discovery APP_MAX_DELAY, default 500 ms). */
  maxReplyDelayMs?: number;
  /** How often the camera list is compared for Hello/Bye of cameras added or removed at run time (default 3 s; 0 = never). */
  watchMs?: number;
}

export interface Discovery {
  /** The bound UDP port (0 when disabled). */
  port: number;
  /** Multicasts Hello for a camera (after it was added, or became discoverable). */
  hello(entry: CameraEntry): Promise<void>;
  /** Multicasts Bye for a camera (before it goes away). */
  bye(entry: CameraEntry): Promise<void>;
  /** Sends Bye for every camera, then closes the socket. */
  stop(): Promise<void>;
}

// The device service owns scopes and the discovery mode (SetScopes, SetDiscoveryMode).
const discoverable = (entry: CameraEntry): boolean => discoveryModeOf(entry) !== 'NonDiscoverable';

export async function startDiscovery(options: DiscoveryOptions): Promise<Discovery> {
  const { logger } = options;
  if (options.enabled === false) {
    return { port: 0, hello: async () => {}, bye: async () => {}, stop: async () => {} };
  }
  const multicast = options.multicast ?? true;
  const maxDelay = options.maxReplyDelayMs ?? 500;
  // AppSequence: InstanceId grows with every start, MessageNumber with every message.
  const instanceId = Math.floor(Date.now() / 1000);
  let messageNumber = 0;
  const recent = new Map<string, number>();
  let budget = { second: 0, datagrams: 0, probes: 0 };
  const timers = new Set<NodeJS.Timeout>();
  // MetadataVersion grows when a camera's scopes or discovery mode change (clients re-read then).
  const metadataVersions = new Map<string, number>();
  let closed = false;

  const socket = createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(options.port ?? DISCOVERY_PORT, options.bindAddress, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  socket.on('error', (err) => logger.warn({ err }, 'ws-discovery socket error'));
  const port = socket.address().port;
  if (multicast) joinGroup(socket, logger);

  const envelope = (header: XmlChild[], body: XmlChild): string =>
    `<?xml version="1.0" encoding="UTF-8"?>${renderXml(
      el('s:Envelope', [el('s:Header', header), el('s:Body', body)], {
        'xmlns:s': NS.soap12,
        'xmlns:a': WSD.addressing,
        'xmlns:d': WSD.discovery,
        'xmlns:dn': WSD.network,
        'xmlns:tds': NS.tds,
      }),
    )}`;
  const appSequence = () => el('d:AppSequence', undefined, { InstanceId: instanceId, MessageNumber: ++messageNumber });

  const xaddrOf = (entry: CameraEntry, host: string): string => {
    const origin = options.publicOrigin?.replace(/\/+$/, '') ?? `http://${hostPart(host)}:${options.httpPort}`;
    const shared = `${origin}/onvif/${encodeURIComponent(entry.id)}/device_service`;
    const own = options.cameraPort?.(entry.id);
    if (own === undefined) return shared;
    // One device per address and port for the clients that need it; the shared path still works.
    const ownOrigin = new URL(origin);
    ownOrigin.port = String(own);
    return `${ownOrigin.origin}/onvif/device_service ${shared}`;
  };
  const describe = async (entry: CameraEntry, host: string): Promise<XmlChild[]> => [
    el('a:EndpointReference', el('a:Address', endpointReference(entry.id))),
    el('d:Types', TYPES.map((t) => t.qname).join(' ')),
    el('d:Scopes', scopesOf(entry).join(' ')),
    el('d:XAddrs', xaddrOf(entry, host)),
    el('d:MetadataVersion', metadataVersions.get(entry.id) ?? 1),
  ];

  const send = (xml: string, address: string, toPort: number): Promise<void> =>
    new Promise((resolve) => {
      socket.send(xml, toPort, address, (err) => {
        if (err) logger.debug({ err, address }, 'ws-discovery send failed');
        resolve();
      });
    });

  /** Multicasts one announcement per local IPv4 address, each naming its own address in XAddrs. */
  const announce = async (entry: Pick<CameraEntry, 'id'> & Partial<CameraEntry>, kind: 'Hello' | 'Bye', force = false): Promise<void> => {
    if (!multicast || closed) return;
    if (!force && entry.model !== undefined && !discoverable(entry as CameraEntry)) return;
    for (const address of announceAddresses(options)) {
      try {
        socket.setMulticastInterface(address);
      } catch {
        continue;
      }
      const header = [
        el('a:MessageID', `urn:uuid:${randomUUID()}`),
        el('a:To', WSD.to),
        el('a:Action', `${WSD.discovery}/${kind}`),
        appSequence(),
      ];
      const body =
        kind === 'Hello' ? el('d:Hello', await describe(entry as CameraEntry, address)) : el('d:Bye', el('a:EndpointReference', el('a:Address', endpointReference(entry.id))));
      await send(envelope(header, body), MULTICAST_GROUP, DISCOVERY_PORT);
    }
  };

  const answer = async (probe: Probe, rinfo: RemoteInfo): Promise<void> => {
    const host = options.httpHost && !isWildcard(options.httpHost) ? options.httpHost : await localAddressTowards(rinfo.address);
    for (const entry of options.cameras()) {
      if (closed) return;
      if (!discoverable(entry)) continue;
      if (!typesMatch(probe.types) || !scopesMatch(probe, scopesOf(entry))) continue;
      const header = [
        el('a:MessageID', `urn:uuid:${randomUUID()}`),
        probe.messageId ? el('a:RelatesTo', probe.messageId) : undefined,
        el('a:To', WSD.anonymous),
        el('a:Action', `${WSD.discovery}/ProbeMatches`),
        appSequence(),
      ];
      await send(envelope(header, el('d:ProbeMatches', el('d:ProbeMatch', await describe(entry, host)))), rinfo.address, rinfo.port);
    }
  };

  socket.on('message', (msg, rinfo) => {
    if (closed || msg.length > MAX_DATAGRAM) return;
    const now = Date.now();
    const second = Math.floor(now / 1000);
    if (budget.second !== second) budget = { second, datagrams: 0, probes: 0 };
    if (++budget.datagrams > DATAGRAMS_PER_SECOND) return;
    const probe = readProbe(msg.toString('utf8'));
    if (!probe) return;
    const key = `${rinfo.address}:${rinfo.port}:${probe.messageId}`;
    for (const [k, t] of recent) if (now - t > DUPLICATE_WINDOW_MS) recent.delete(k);
    if (probe.messageId && recent.has(key)) return;
    if (++budget.probes > PROBES_PER_SECOND) return;
    recent.set(key, now);
    // Random delay (APP_MAX_DELAY) so that many devices do not answer a multicast Probe at once.
    const timer = setTimeout(
      () => {
        timers.delete(timer);
        answer(probe, rinfo).catch((err: unknown) => logger.warn({ err }, 'ws-discovery: answering a Probe failed'));
      },
      Math.floor(Math.random() * maxDelay),
    );
    timers.add(timer);
  });

  // Scopes changed: Hello with a new MetadataVersion; the camera left discoverable mode: Bye.
  const onChange = (cameraId: string) => {
    const entry = options.cameras().find((e) => e.id === cameraId);
    if (!entry) return;
    metadataVersions.set(cameraId, (metadataVersions.get(cameraId) ?? 1) + 1);
    announce(entry, discoverable(entry) ? 'Hello' : 'Bye', true).catch((err: unknown) => logger.debug({ err }, 'ws-discovery announce failed'));
  };
  discoveryChanges.on('change', onChange);

  for (const entry of options.cameras()) await announce(entry, 'Hello').catch(() => {});
  // Cameras added or removed at run time (the fleet API): Hello for the new, Bye for the gone.
  let known = new Set(options.cameras().map((e) => e.id));
  const watchMs = options.watchMs ?? 3_000;
  const watch =
    multicast && watchMs > 0
      ? setInterval(() => {
          const entries = options.cameras();
          const now = new Set(entries.map((e) => e.id));
          for (const e of entries) if (!known.has(e.id)) announce(e, 'Hello').catch(() => {});
          for (const id of known) if (!now.has(id)) announce({ id }, 'Bye', true).catch(() => {});
          known = now;
        }, watchMs)
      : undefined;
  watch?.unref();
  logger.info({ port, multicast }, 'ws-discovery listening');

  return {
    port,
    hello: (entry) => announce(entry, 'Hello'),
    bye: (entry) => announce(entry, 'Bye'),
    stop: async () => {
      if (closed) return;
      discoveryChanges.off('change', onChange);
      if (watch) clearInterval(watch);
      for (const entry of options.cameras()) await announce(entry, 'Bye').catch(() => {});
      closed = true;
      for (const t of timers) clearTimeout(t);
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}

interface Probe {
  messageId: string | undefined;
  /** Requested types as {namespace}local; unresolvable prefixes never match. */
  types: string[];
  scopes: string[];
  matchBy: string;
}

/** A Probe message, or undefined for anything else (Hello, Bye, ProbeMatches of other devices, junk). */
export function readProbe(xml: string): Probe | undefined {
  let root: XmlNode;
  try {
    root = parseXml(xml);
  } catch {
    return undefined;
  }
  if (root.local !== 'Envelope' || (root.ns !== NS.soap12 && root.ns !== NS.soap11)) return undefined;
  const probe = child(child(root, 'Body', root.ns), 'Probe', WSD.discovery);
  if (!probe) return undefined;
  const header = child(root, 'Header', root.ns);
  const messageId = header?.children.find((c) => c.local === 'MessageID')?.text || undefined;
  const typesEl = child(probe, 'Types', WSD.discovery);
  const scopesEl = child(probe, 'Scopes', WSD.discovery);
  const types = words(typesEl?.text).map((qname) => {
    const colon = qname.indexOf(':');
    const prefix = colon < 0 ? '' : qname.slice(0, colon);
    const ns = typesEl?.scope?.get(prefix);
    return ns === undefined ? `{?}${qname}` : `{${ns}}${qname.slice(colon + 1)}`;
  });
  return { messageId, types, scopes: words(scopesEl?.text), matchBy: scopesEl?.attrs.get('MatchBy') || WSD.rfc3986 };
}

function words(text: string | undefined): string[] {
  return (text ?? '').split(/\s+/).filter(Boolean);
}

export function typesMatch(requested: readonly string[]): boolean {
  return requested.every((t) => TYPES.some((own) => t === `{${own.ns}}${own.local}`));
}

function scopesMatch(probe: Probe, own: readonly string[]): boolean {
  return probe.scopes.every((s) => own.some((o) => scopeMatches(s, o, probe.matchBy)));
}

/**
 * WS-Discovery scope matching: rfc3986 (default) compares scheme and authority case-insensitively
 * and the path segment by segment as a prefix; strcmp0 is exact. Any other rule matches nothing.
 */
export function scopeMatches(probe: string, own: string, matchBy: string = WSD.rfc3986): boolean {
  if (matchBy === WSD.strcmp0) return probe === own;
  if (matchBy !== WSD.rfc3986) return false;
  const a = splitUri(probe);
  const b = splitUri(own);
  if (!a || !b || a.scheme !== b.scheme || a.authority !== b.authority) return false;
  if (a.segments.length > b.segments.length) return false;
  return a.segments.every((seg, i) => seg === b.segments[i]);
}

function splitUri(uri: string): { scheme: string; authority: string; segments: string[] } | undefined {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):(?:\/\/([^/?#]*))?([^?#]*)/.exec(uri);
  if (!m) return undefined;
  // A trailing "/" adds no segment; "." and ".." segments are not special here.
  const segments = m[3]!.split('/').filter((s, i, all) => s !== '' || (i > 0 && i < all.length - 1));
  return { scheme: m[1]!.toLowerCase(), authority: (m[2] ?? '').toLowerCase(), segments };
}

function joinGroup(socket: Socket, logger: Logger): void {
  let joined = 0;
  for (const address of ipv4Addresses(true)) {
    try {
      socket.addMembership(MULTICAST_GROUP, address);
      joined++;
    } catch {
      // An interface without multicast (lo without a multicast route): skip it.
    }
  }
  if (joined === 0) {
    try {
      socket.addMembership(MULTICAST_GROUP);
      joined++;
    } catch (err) {
      logger.warn({ err }, 'ws-discovery: no interface joined the multicast group; only unicast Probes are answered');
    }
  }
  socket.setMulticastTTL(1);
  socket.setMulticastLoopback(true);
}

function ipv4Addresses(includeInternal: boolean): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && (includeInternal || !a.internal)) out.push(a.address);
  }
  return out;
}

/** Where Hello and Bye go out: every external IPv4 address, or loopback when there is none. */
function announceAddresses(options: DiscoveryOptions): string[] {
  if (options.httpHost && !isWildcard(options.httpHost) && !options.httpHost.includes(':')) return [options.httpHost];
  const external = ipv4Addresses(false);
  return external.length > 0 ? external : ipv4Addresses(true);
}

/** The local address the kernel routes towards the sender: the address the Probe reached us on. */
function localAddressTowards(remote: string): Promise<string> {
  return new Promise((resolve) => {
    const probe = createSocket('udp4');
    const done = (address: string) => {
      probe.close();
      resolve(address);
    };
    probe.once('error', () => done(fallbackAddress()));
    probe.connect(9, remote, () => {
      try {
        done(probe.address().address);
      } catch {
        done(fallbackAddress());
      }
    });
  });
}

function fallbackAddress(): string {
  return ipv4Addresses(false)[0] ?? '127.0.0.1';
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}

function hostPart(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
