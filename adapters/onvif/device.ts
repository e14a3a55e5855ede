// ONVIF device service (ver10 devicemgmt.wsdl): clock, identity, capabilities, network settings,
// scopes, gateway users, reboot and factory reset, over the camera's CGI. Element order follows
// onvif.xsd; every tt: type is written tt: all the way down (design.md §6).
import { EventEmitter } from 'node:events';
import { isIPv4, isIPv6 } from 'node:net';
import { rateLimitUser } from '../../gateway/rate-limit.ts';
import type { Role } from '../../gateway/spec.ts';
import type { CameraEntry } from '../../gateway/cameras.ts';
import { parseKeyValue, type CgiDoc, type CgiNode } from '../cgi/codec.ts';
import { bool, cgiValue, counts, int, list, obj, remembered, sharedInFleet, str } from './camera-facts.ts';
import {
  cameraWallToUtc,
  formatCameraTime,
  parseCameraTime,
  parsePosixTz,
  posixTz,
  utcToCameraWall,
  zoneIndexOf,
  zoneOffsetMinutes,
  type Dst,
  type DstRule,
} from './camera-time.ts';
import { deviceRelayOperations, digitalInputCount, relayCount } from './deviceio.ts';
import { derivedHwAddress, endpointReference } from './identity.ts';
import { invalidArg, NS, OnvifFault } from './soap.ts';
import type { OnvifContext, OnvifOperation, OnvifService, ServiceKey } from './service.ts';
import { child, children, el, opt, textAt, type XmlChild, type XmlNode, type XmlOut } from './xml.ts';

const MAGIC_BOX = '/cgi-bin/magicBox.cgi';
const GLOBAL = '/cgi-bin/global.cgi';

// ---------------------------------------------------------------------------------------------
// Clock

export interface CameraClock {
  /** The camera's wall time (naive, as UTC fields). */
  wallMs: number;
  /** True UTC; undefined when the camera's time-zone index is not one we know. */
  utcMs: number | undefined;
  ntp: boolean;
  offsetMinutes: number | undefined;
  dst: Dst;
}

function dstRule(node: CgiNode | undefined): DstRule {
  const o = obj(node) ?? {};
  return { Month: int(o.Month) ?? 1, Week: int(o.Week) ?? 0, Day: int(o.Day) ?? 1, Hour: int(o.Hour) ?? 0, Minute: int(o.Minute) ?? 0 };
}

function dstOf(locales: CgiDoc): Dst {
  const l = obj(locales.Locales) ?? {};
  return { enabled: bool(l.DSTEnable) ?? false, start: dstRule(l.DSTStart), end: dstRule(l.DSTEnd) };
}

/** The camera's clock read as ONVIF wants it (also for the events service's UTC times). */
export async function readCameraClock(entry: CameraEntry, signal?: AbortSignal): Promise<CameraClock> {
  const opts = signal ? { signal } : {};
  // The clock first and alone: on a fresh client it is the login, which parallel calls would wait on.
  const now = await cgiValue(entry, GLOBAL, 'getCurrentTime', 'result', signal);
  const [ntp, locales] = await Promise.all([entry.camera.getConfig('NTP', opts), entry.camera.getConfig('Locales', opts)]);
  const wallMs = parseCameraTime(now ?? '');
  if (wallMs === undefined) throw new OnvifFault('Receiver', [], `the camera's clock answered '${now ?? ''}', which is not a time`);
  const n = obj(ntp.NTP) ?? {};
  const offsetMinutes = zoneOffsetMinutes(int(n.TimeZone) ?? -1);
  const dst = dstOf(locales);
  return {
    wallMs,
    utcMs: offsetMinutes === undefined ? undefined : cameraWallToUtc(wallMs, offsetMinutes, dst),
    ntp: bool(n.Enable) ?? false,
    offsetMinutes,
    dst,
  };
}

function dateTime(name: string, ms: number): XmlOut {
  const d = new Date(ms);
  return el(name, [
    el('tt:Time', [el('tt:Hour', d.getUTCHours()), el('tt:Minute', d.getUTCMinutes()), el('tt:Second', d.getUTCSeconds())]),
    el('tt:Date', [el('tt:Year', d.getUTCFullYear()), el('tt:Month', d.getUTCMonth() + 1), el('tt:Day', d.getUTCDate())]),
  ]);
}

async function getSystemDateAndTime(_request: XmlNode, ctx: OnvifContext): Promise<XmlOut> {
  const clock = await readCameraClock(ctx.entry, ctx.signal);
  if (clock.utcMs === undefined) ctx.logger.warn({ camera: ctx.entry.id }, 'camera time-zone index unknown: ONVIF clients get no UTC time');
  return el(
    'tds:GetSystemDateAndTimeResponse',
    el('tds:SystemDateAndTime', [
      el('tt:DateTimeType', clock.ntp ? 'NTP' : 'Manual'),
      el('tt:DaylightSavings', clock.dst.enabled),
      clock.offsetMinutes === undefined ? undefined : el('tt:TimeZone', el('tt:TZ', posixTz(clock.offsetMinutes, clock.dst))),
      clock.utcMs === undefined ? undefined : dateTime('tt:UTCDateTime', clock.utcMs),
      dateTime('tt:LocalDateTime', clock.wallMs),
    ]),
  );
}

function intIn(node: XmlNode | undefined, path: string[], min: number, max: number): number {
  const text = textAt(node, ...path);
  if (text === undefined || !/^\d{1,4}$/.test(text) || Number(text) < min || Number(text) > max) {
    throw invalidArg(`UTCDateTime ${path.join('/')} '${text ?? ''}' is out of range`, 'ter:InvalidDateTime');
  }
  return Number(text);
}

async function setSystemDateAndTime(request: XmlNode, ctx: OnvifContext): Promise<XmlOut> {
  const type = textAt(request, 'DateTimeType');
  if (type !== 'Manual' && type !== 'NTP') throw invalidArg(`DateTimeType must be Manual or NTP (got '${type ?? ''}')`);
  const dstText = textAt(request, 'DaylightSavings');
  if (dstText !== 'true' && dstText !== 'false' && dstText !== '1' && dstText !== '0') throw invalidArg('DaylightSavings must be a boolean');
  const daylight = dstText === 'true' || dstText === '1';

  // Everything is checked before anything is written.
  const params: Array<[string, string]> = [['NTP.Enable', type === 'NTP' ? 'true' : 'false'], ['Locales.DSTEnable', String(daylight)]];
  const tzText = textAt(request, 'TimeZone', 'TZ');
  let offset: number | undefined;
  let rules: { start: DstRule; end: DstRule } | undefined;
  if (tzText !== undefined && tzText !== '') {
    const tz = parsePosixTz(tzText);
    if (!tz) throw invalidArg(`'${tzText}' is not a POSIX time zone`, 'ter:InvalidTimeZone');
    const index = zoneIndexOf(tz.offsetMinutes);
    if (index === undefined) throw invalidArg(`the camera has no time zone at UTC${tz.offsetMinutes >= 0 ? '+' : '-'}${Math.abs(tz.offsetMinutes)} min`, 'ter:InvalidTimeZone');
    offset = tz.offsetMinutes;
    params.push(['NTP.TimeZone', String(index)]);
    if (tz.start && tz.end) {
      rules = { start: tz.start, end: tz.end };
      for (const [name, r] of [['DSTStart', tz.start], ['DSTEnd', tz.end]] as const) {
        for (const k of ['Month', 'Week', 'Day', 'Hour', 'Minute'] as const) params.push([`Locales.${name}.${k}`, String(r[k])]);
      }
    }
  }
  const utcEl = child(request, 'UTCDateTime');
  let utcMs: number | undefined;
  if (type === 'Manual' && utcEl) {
    const y = intIn(utcEl, ['Date', 'Year'], 2000, 2037);
    const mo = intIn(utcEl, ['Date', 'Month'], 1, 12);
    const d = intIn(utcEl, ['Date', 'Day'], 1, 31);
    const h = intIn(utcEl, ['Time', 'Hour'], 0, 23);
    const mi = intIn(utcEl, ['Time', 'Minute'], 0, 59);
    const s = intIn(utcEl, ['Time', 'Second'], 0, 59);
    utcMs = Date.UTC(y, mo - 1, d, h, mi, s);
    if (new Date(utcMs).getUTCDate() !== d) throw invalidArg(`${y}-${mo}-${d} is not a date`, 'ter:InvalidDateTime');
  }
  if (type === 'NTP') {
    const address = str(obj((await ctx.entry.camera.getConfig('NTP', { signal: ctx.signal })).NTP)?.Address)?.trim();
    if (!address) throw new OnvifFault('Sender', ['ter:InvalidArgVal', 'ter:NtpServerUndefined'], 'the camera has no NTP server: SetNTP first');
  }
  let wall: string | undefined;
  if (utcMs !== undefined) {
    const current = await readCameraClock(ctx.entry, ctx.signal);
    const zone = offset ?? current.offsetMinutes;
    if (zone === undefined) throw invalidArg('the camera time zone is unknown: give a TimeZone with the time', 'ter:InvalidTimeZone');
    const dst: Dst = { enabled: daylight, start: rules?.start ?? current.dst.start, end: rules?.end ?? current.dst.end };
    wall = formatCameraTime(utcToCameraWall(utcMs, zone, dst));
  }
  await ctx.entry.camera.setConfig(params, { signal: ctx.signal });
  if (wall !== undefined) await ctx.entry.camera.call(GLOBAL, [['action', 'setCurrentTime'], ['time', wall]], { signal: ctx.signal });
  return el('tds:SetSystemDateAndTimeResponse');
}

// ---------------------------------------------------------------------------------------------
// Identity

const serialOf = (entry: CameraEntry): Promise<string | undefined> =>
  remembered(entry, 'serial', async () => (await cgiValue(entry, MAGIC_BOX, 'getSerialNo', 'sn', AbortSignal.timeout(6000)))?.trim());

async function getDeviceInformation(_request: XmlNode, ctx: OnvifContext): Promise<XmlOut> {
  const e = ctx.entry;
  const [vendor, firmware, serial, hardware] = await Promise.all([
    cgiValue(e, MAGIC_BOX, 'getVendor', 'vendor', ctx.signal),
    cgiValue(e, MAGIC_BOX, 'getSoftwareVersion', 'version', ctx.signal),
    serialOf(e),
    cgiValue(e, MAGIC_BOX, 'getHardwareVersion', 'version', ctx.signal),
  ]);
  let serialNumber = serial ?? '';
  // Clients merge devices that share a serial (design.md §6): cameras of the fleet that report the
  // same one (simulators, clones) each get their camera id appended.
  if (serialNumber !== '' && (await sharedInFleet(ctx.cameras, e, serialNumber, serialOf))) serialNumber = `${serialNumber}-${e.id}`;
  return el('tds:GetDeviceInformationResponse', [
    el('tds:Manufacturer', vendor?.trim() ?? ''),
    // The configured model: magicBox getDeviceType is documented as "not the true type" (it says DVR).
    el('tds:Model', e.model),
    el('tds:FirmwareVersion', firmware?.trim() ?? ''),
    el('tds:SerialNumber', serialNumber),
    el('tds:HardwareId', hardware?.trim() ?? ''),
  ]);
}

// ---------------------------------------------------------------------------------------------
// Capabilities

const MAX_NAME = 64;
const MAX_PASSWORD = 64;

async function deviceServiceCapabilities(_ctx: OnvifContext): Promise<XmlOut> {
  return el('tds:Capabilities', [
    el('tds:Network', undefined, {
      IPFilter: false,
      ZeroConfiguration: false,
      IPVersion6: false,
      DynDNS: false,
      Dot11Configuration: false,
      HostnameFromDHCP: false,
      NTP: 1,
      DHCPv6: false,
    }),
    el('tds:Security', undefined, {
      'TLS1.0': false,
      'TLS1.1': false,
      'TLS1.2': false,
      OnboardKeyGeneration: false,
      AccessPolicyConfig: false,
      DefaultAccessPolicy: false,
      Dot1X: false,
      RemoteUserHandling: false,
      'X.509Token': false,
      SAMLToken: false,
      KerberosToken: false,
      UsernameToken: true,
      HttpDigest: true,
      RELToken: false,
      MaxUserNameLength: MAX_NAME,
      MaxPasswordLength: MAX_PASSWORD,
    }),
    el('tds:System', undefined, {
      DiscoveryResolve: false,
      DiscoveryBye: true,
      RemoteDiscovery: false,
      SystemBackup: false,
      SystemLogging: false,
      FirmwareUpgrade: false,
      HttpFirmwareUpgrade: false,
      HttpSystemBackup: false,
      HttpSystemLogging: false,
      HttpSupportInformation: false,
    }),
  ]);
}

function serviceOf(ctx: OnvifContext, key: ServiceKey): OnvifService | undefined {
  return ctx.services.find((s) => s.key === key);
}

async function availableService(ctx: OnvifContext, key: ServiceKey): Promise<boolean> {
  const s = serviceOf(ctx, key);
  return s !== undefined && (await s.available(ctx));
}

const CATEGORIES = ['All', 'Analytics', 'Device', 'Events', 'Imaging', 'Media', 'PTZ'] as const;

async function getCapabilities(request: XmlNode, ctx: OnvifContext): Promise<XmlOut> {
  const asked = children(request, 'Category').map((c) => c.text);
  for (const c of asked) if (!(CATEGORIES as readonly string[]).includes(c)) throw invalidArg(`unknown capability category '${c}'`);
  const all = asked.length === 0 || asked.includes('All');
  const want = (c: string): boolean => all || asked.includes(c);
  const noService = (c: string): OnvifFault => new OnvifFault('Receiver', ['ter:ActionNotSupported', 'ter:NoSuchService'], `this device has no ${c} service`);
  if (!all && asked.includes('Analytics')) throw noService('Analytics');

  const [events, imaging, media, ptz, deviceio] = await Promise.all(
    (['events', 'imaging', 'media', 'ptz', 'deviceio'] as const).map((k) => availableService(ctx, k)),
  );
  for (const [c, has] of [['Events', events], ['Imaging', imaging], ['Media', media], ['PTZ', ptz]] as const) {
    if (!all && asked.includes(c) && !has) throw noService(c);
  }
  const e = ctx.entry;
  const [inputs, relays, video, audioIn, audioOut] = await Promise.all([
    digitalInputCount(e),
    relayCount(e),
    counts.videoSources(e),
    counts.audioSources(e),
    counts.audioOutputs(e),
  ]);
  const version = deviceService.version;
  return el(
    'tds:GetCapabilitiesResponse',
    el('tds:Capabilities', [
      want('Device')
        ? el('tt:Device', [
            el('tt:XAddr', ctx.xaddr('device')),
            el('tt:Network', [el('tt:IPFilter', false), el('tt:ZeroConfiguration', false), el('tt:IPVersion6', false), el('tt:DynDNS', false)]),
            el('tt:System', [
              el('tt:DiscoveryResolve', false),
              el('tt:DiscoveryBye', true),
              el('tt:RemoteDiscovery', false),
              el('tt:SystemBackup', false),
              el('tt:SystemLogging', false),
              el('tt:FirmwareUpgrade', false),
              el('tt:SupportedVersions', [el('tt:Major', version.major), el('tt:Minor', version.minor)]),
            ]),
            el('tt:IO', [el('tt:InputConnectors', inputs), el('tt:RelayOutputs', relays)]),
            el('tt:Security', [
              el('tt:TLS1.1', false),
              el('tt:TLS1.2', false),
              el('tt:OnboardKeyGeneration', false),
              el('tt:AccessPolicyConfig', false),
              el('tt:X.509Token', false),
              el('tt:SAMLToken', false),
              el('tt:KerberosToken', false),
              el('tt:RELToken', false),
            ]),
          ])
        : undefined,
      want('Events') && events
        ? el('tt:Events', [
            el('tt:XAddr', ctx.xaddr('events')),
            el('tt:WSSubscriptionPolicySupport', false),
            el('tt:WSPullPointSupport', true),
            el('tt:WSPausableSubscriptionManagerInterfaceSupport', false),
          ])
        : undefined,
      want('Imaging') && imaging ? el('tt:Imaging', el('tt:XAddr', ctx.xaddr('imaging'))) : undefined,
      want('Media') && media
        ? el('tt:Media', [
            el('tt:XAddr', ctx.xaddr('media')),
            el('tt:StreamingCapabilities', [el('tt:RTPMulticast', false), el('tt:RTP_TCP', true), el('tt:RTP_RTSP_TCP', true)]),
          ])
        : undefined,
      want('PTZ') && ptz ? el('tt:PTZ', el('tt:XAddr', ctx.xaddr('ptz'))) : undefined,
      all && deviceio
        ? el(
            'tt:Extension',
            el('tt:DeviceIO', [
              el('tt:XAddr', ctx.xaddr('deviceio')),
              el('tt:VideoSources', video),
              el('tt:VideoOutputs', 0),
              el('tt:AudioSources', audioIn),
              el('tt:AudioOutputs', audioOut),
              el('tt:RelayOutputs', relays),
            ]),
          )
        : undefined,
    ]),
  );
}

async function getServices(request: XmlNode, ctx: OnvifContext): Promise<XmlOut> {
  const include = /^(true|1)$/.test(textAt(request, 'IncludeCapability') ?? 'false');
  const services: XmlOut[] = [];
  for (const s of ctx.services) {
    if (s.key !== 'device' && !(await s.available(ctx))) continue;
    let caps: XmlChild;
    if (include) {
      try {
        caps = el('tds:Capabilities', await s.capabilities(ctx));
      } catch (err) {
        // One camera read failing leaves that service's capabilities out, not the whole list.
        ctx.logger.warn({ err, camera: ctx.entry.id, service: s.key }, 'ONVIF service capabilities could not be read');
      }
    }
    services.push(
      el('tds:Service', [
        el('tds:Namespace', s.ns),
        el('tds:XAddr', ctx.xaddr(s.key)),
        caps,
        el('tds:Version', [el('tt:Major', s.version.major), el('tt:Minor', s.version.minor)]),
      ]),
    );
  }
  return el('tds:GetServicesResponse', services);
}

// ---------------------------------------------------------------------------------------------
// Network

interface NetworkView {
  table: Record<string, CgiNode>;
  name: string;
  iface: Record<string, CgiNode>;
}

async function network(ctx: OnvifContext): Promise<NetworkView> {
  const doc = await ctx.entry.camera.getConfig('Network', { signal: ctx.signal });
  const table = obj(doc.Network) ?? {};
  const name = str(table.DefaultInterface)?.trim() || 'eth0';
  return { table, name, iface: obj(table[name]) ?? {} };
}

const HOSTNAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const DNS_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

function ipAddress(name: string, address: string): XmlOut {
  return el(name, [el('tt:Type', isIPv6(address) ? 'IPv6' : 'IPv4'), el(isIPv6(address) ? 'tt:IPv6Address' : 'tt:IPv4Address', address)]);
}

function networkHost(name: string, host: string): XmlOut {
  if (isIPv4(host)) return el(name, [el('tt:Type', 'IPv4'), el('tt:IPv4Address', host)]);
  if (isIPv6(host)) return el(name, [el('tt:Type', 'IPv6'), el('tt:IPv6Address', host)]);
  return el(name, [el('tt:Type', 'DNS'), el('tt:DNSname', host)]);
}

/** A tt:NetworkHost / tt:IPAddress of a request, checked; the address as the camera takes it. */
function readHost(node: XmlNode, allowDns: boolean): string {
  const type = textAt(node, 'Type');
  if (type === 'IPv4') {
    const a = textAt(node, 'IPv4Address') ?? '';
    if (!isIPv4(a)) throw invalidArg(`'${a}' is not an IPv4 address`, 'ter:InvalidIPv4Address');
    return a;
  }
  if (type === 'IPv6') {
    const a = textAt(node, 'IPv6Address') ?? '';
    if (!isIPv6(a)) throw invalidArg(`'${a}' is not an IPv6 address`, 'ter:InvalidIPv6Address');
    return a;
  }
  if (type === 'DNS' && allowDns) {
    const a = textAt(node, 'DNSname') ?? '';
    if (!DNS_NAME.test(a)) throw invalidArg(`'${a}' is not a DNS name`, 'ter:InvalidDnsName');
    return a;
  }
  throw invalidArg(`address type '${type ?? ''}' is not accepted here`);
}

function prefixLength(mask: string | undefined): number | undefined {
  if (!mask || !isIPv4(mask)) return undefined;
  const bits = mask.split('.').map((o) => Number(o).toString(2).padStart(8, '0')).join('');
  return /^1*0*$/.test(bits) ? bits.indexOf('0') < 0 ? 32 : bits.indexOf('0') : undefined;
}

const hwAddressOf = (entry: CameraEntry): Promise<string | undefined> =>
  remembered(entry, 'hwaddress', async () => {
    const doc = await entry.camera.getConfig('Network', { signal: AbortSignal.timeout(6000) });
    const t = obj(doc.Network) ?? {};
    const name = str(t.DefaultInterface)?.trim() || 'eth0';
    return str(obj(t[name])?.PhysicalAddress)?.trim().toLowerCase();
  });

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

async function getNetworkInterfaces(_request: XmlNode, ctx: OnvifContext): Promise<XmlOut> {
  const [net, ifaces] = await Promise.all([
    network(ctx),
    ctx.entry.camera.call('/cgi-bin/netApp.cgi', [['action', 'getInterfaces']], { signal: ctx.signal }),
  ]);
  const valid = new Map<string, boolean>();
  for (const n of list(parseKeyValue(ifaces).doc.netInterface)) {
    const o = obj(n);
    const name = str(o?.Name)?.trim();
    if (name) valid.set(name, bool(o?.Valid) ?? true);
  }
  const names = Object.keys(net.table).filter((k) => obj(net.table[k]) && (valid.size === 0 || valid.has(k)));
  if (names.length === 0) names.push(net.name);
  const result: XmlOut[] = [];
  for (const name of names) {
    const iface = obj(net.table[name]) ?? {};
    let hw = str(iface.PhysicalAddress)?.trim().toLowerCase() ?? '';
    // Clients merge devices that share a hardware address (design.md §6).
    if (!MAC.test(hw) || (name === net.name && (await sharedInFleet(ctx.cameras, ctx.entry, hw, hwAddressOf)))) hw = derivedHwAddress(ctx.entry.id);
    const address = str(iface.IPAddress)?.trim();
    const dhcp = bool(iface.DhcpEnable) ?? false;
    const prefix = prefixLength(str(iface.SubnetMask)?.trim());
    const addr = address && isIPv4(address) && prefix !== undefined ? [el('tt:Address', address), el('tt:PrefixLength', prefix)] : undefined;
    result.push(
      el(
        'tds:NetworkInterfaces',
        [
          el('tt:Enabled', valid.get(name) ?? true),
          el('tt:Info', [el('tt:Name', name), el('tt:HwAddress', hw), opt('tt:MTU', int(iface.MTU))]),
          el('tt:IPv4', [
            el('tt:Enabled', address !== undefined && address !== ''),
            el('tt:Config', [addr && !dhcp ? el('tt:Manual', addr) : undefined, addr && dhcp ? el('tt:FromDHCP', addr) : undefined, el('tt:DHCP', dhcp)]),
          ]),
        ],
        { token: name },
      ),
    );
  }
  return el('tds:GetNetworkInterfacesResponse', result);
}

async function getNetworkProtocols(_request: XmlNode, ctx: OnvifContext): Promise<XmlOut> {
  const rtsp = obj((await ctx.entry.camera.getConfig('RTSP', { signal: ctx.signal })).RTSP) ?? {};
  // The HTTP port ONVIF clients use is the gateway's, not the camera's.
  const origin = new URL(ctx.origin);
  const https = origin.protocol === 'https:';
  const httpPort = Number(origin.port || (https ? 443 : 80));
  return el('tds:GetNetworkProtocolsResponse', [
    el('tds:NetworkProtocols', [el('tt:Name', https ? 'HTTPS' : 'HTTP'), el('tt:Enabled', true), el('tt:Port', httpPort)]),
    el('tds:NetworkProtocols', [el('tt:Name', 'RTSP'), el('tt:Enabled', bool(rtsp.Enable) ?? false), el('tt:Port', int(rtsp.Port) ?? 554)]),
  ]);
}

function dnsServers(iface: Record<string, CgiNode>): string[] {
  return list(iface.DnsServers)
    .map((s) => (typeof s === 'string' ? s.trim() : ''))
    .filter((s) => s !== '' && s !== '0.0.0.0' && (isIPv4(s) || isIPv6(s)));
}

/** Reads a boolean element of a request; a missing or non-boolean one is a fault. */
function boolArg(request: XmlNode, name: string): boolean {
  const t = textAt(request, name);
  if (t === 'true' || t === '1') return true;
  if (t === 'false' || t === '0') return false;
  throw invalidArg(`${name} must be a boolean (got '${t ?? ''}')`);
}

// ---------------------------------------------------------------------------------------------
// Scopes and discovery (kept per camera in memory: the camera has no place for them)

const SCOPE = 'onvif://www.onvif.org/';
const MAX_CONFIGURABLE_SCOPES = 16;
export type DiscoveryMode = 'Discoverable' | 'NonDiscoverable';

const scopeState = new Map<string, { configurable: string[]; mode: DiscoveryMode }>();

function stateOf(cameraId: string): { configurable: string[]; mode: DiscoveryMode } {
  let s = scopeState.get(cameraId);
  if (!s) scopeState.set(cameraId, (s = { configurable: [`${SCOPE}location/unknown`], mode: 'Discoverable' }));
  return s;
}

/** Emits `change` with the camera id when its scopes or discovery mode change (WS-Discovery sends Hello). */
export const discoveryChanges = new EventEmitter();

function fixedScopes(entry: CameraEntry): string[] {
  return [
    `${SCOPE}Profile/Streaming`,
    `${SCOPE}Profile/T`,
    `${SCOPE}type/video_encoder`,
    `${SCOPE}type/Network_Video_Transmitter`,
    `${SCOPE}hardware/${encodeURIComponent(entry.model)}`,
    `${SCOPE}name/${encodeURIComponent(entry.name ?? entry.id)}`,
  ];
}

/** Every scope of a camera, fixed ones first (for WS-Discovery Probe matching and Hello). */
export function scopesOf(entry: CameraEntry): string[] {
  return [...fixedScopes(entry), ...stateOf(entry.id).configurable];
}

export function discoveryModeOf(entry: CameraEntry): DiscoveryMode {
  return stateOf(entry.id).mode;
}

const SCOPE_URI = /^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>"{}|\\^`]{1,256}$/;

function scopeArgs(request: XmlNode, name: string): string[] {
  const items = children(request, name).map((c) => c.text);
  if (items.length === 0) throw invalidArg(`at least one ${name} is needed`);
  for (const s of items) if (!SCOPE_URI.test(s)) throw invalidArg(`'${s}' is not a scope URI`);
  return [...new Set(items)];
}

// ---------------------------------------------------------------------------------------------
// Users: the gateway's users, which are the credentials ONVIF clients log in with. Changes made
// here live in memory only (the YAML file is not rewritten): a restart brings back the file's users.

const LEVEL_ROLE: Record<string, Role> = { Administrator: 'admin', Operator: 'operator', User: 'viewer' };
const ROLE_LEVEL: Record<Role, string> = { admin: 'Administrator', operator: 'Operator', viewer: 'User' };
const USERNAME = /^[^\s:\u0000-\u001f\u007f]{1,64}$/;

interface UserArg {
  name: string;
  password: string | undefined;
  role: Role;
}

function userArgs(request: XmlNode): UserArg[] {
  const users = children(request, 'User');
  if (users.length === 0) throw invalidArg('at least one User is needed');
  return users.map((u) => {
    const name = textAt(u, 'Username') ?? '';
    const password = child(u, 'Password') ? (child(u, 'Password')!.text) : undefined;
    const level = textAt(u, 'UserLevel') ?? '';
    if (name.length > MAX_NAME) throw invalidArg(`user name longer than ${MAX_NAME} characters`, 'ter:UsernameTooLong');
    if (!USERNAME.test(name)) throw invalidArg(`'${name}' is not a user name (no spaces, colons or control characters)`);
    if (password !== undefined && password.length > MAX_PASSWORD) throw invalidArg(`password longer than ${MAX_PASSWORD} characters`, 'ter:PasswordTooLong');
    if (password !== undefined && password.length < 8) throw invalidArg('passwords need at least 8 characters', 'ter:Password');
    if (level === 'Anonymous') throw new OnvifFault('Sender', ['ter:OperationProhibited', 'ter:AnonymousNotAllowed'], 'anonymous users are not allowed');
    const role = LEVEL_ROLE[level];
    if (!role) throw invalidArg(`UserLevel '${level}' is not Administrator, Operator or User`);
    return { name, password, role };
  });
}

/** User management changes who may use every camera: an admin limited to some cameras may not. */
function fleetAdmin(ctx: OnvifContext): void {
  if (ctx.principal?.cameras !== undefined) {
    throw new OnvifFault('Sender', ['ter:NotAuthorized'], 'managing users needs an Administrator with access to every camera');
  }
}

function ensureAdminsRemain(ctx: OnvifContext, after: Map<string, Role | undefined>): void {
  const admins = ctx.users.listUsers().filter((u) => (after.has(u.name) ? after.get(u.name) : u.role) === 'admin');
  if (admins.length === 0) throw new OnvifFault('Sender', ['ter:OperationProhibited', 'ter:FixedUser'], 'the last Administrator cannot be removed or demoted');
}

/** Reboots and resets take a 'reboot' token of the gateway's limiter, shared with REST (a camera needs a minute to come back). */
function takeRebootToken(ctx: OnvifContext): void {
  if (!ctx.rateLimiter || !ctx.principal) return;
  const r = ctx.rateLimiter.take('reboot', rateLimitUser(ctx.principal), ctx.entry.id);
  if (!r.ok) throw new OnvifFault('Receiver', ['ter:Action'], `too many reboots and resets of this camera: retry in ${r.retryAfterSeconds} s`);
}

// ---------------------------------------------------------------------------------------------

const operations: OnvifOperation[] = [
  { name: 'GetSystemDateAndTime', access: 'preauth', handle: getSystemDateAndTime },
  { name: 'SetSystemDateAndTime', access: 'admin', handle: setSystemDateAndTime },
  { name: 'GetDeviceInformation', access: 'viewer', handle: getDeviceInformation },
  { name: 'GetCapabilities', access: 'preauth', handle: getCapabilities },
  { name: 'GetServices', access: 'preauth', handle: getServices },
  {
    name: 'GetServiceCapabilities',
    access: 'preauth',
    handle: async (_r, ctx) => el('tds:GetServiceCapabilitiesResponse', await deviceServiceCapabilities(ctx)),
  },
  {
    name: 'GetWsdlUrl',
    access: 'preauth',
    handle: async () => el('tds:GetWsdlUrlResponse', el('tds:WsdlUrl', 'http://www.onvif.org/Documents/Specifications.html')),
  },
  {
    name: 'GetEndpointReference',
    access: 'preauth',
    handle: async (_r, ctx) => el('tds:GetEndpointReferenceResponse', el('tds:GUID', endpointReference(ctx.entry.id))),
  },
  {
    name: 'GetHostname',
    access: 'preauth',
    handle: async (_r, ctx) => {
      const { table } = await network(ctx);
      return el('tds:GetHostnameResponse', el('tds:HostnameInformation', [el('tt:FromDHCP', false), opt('tt:Name', str(table.Hostname)?.trim() || undefined)]));
    },
  },
  {
    name: 'SetHostname',
    access: 'admin',
    handle: async (request, ctx) => {
      const name = textAt(request, 'Name') ?? '';
      if (!HOSTNAME.test(name)) throw invalidArg(`'${name}' is not a host name (letters, digits and '-', at most 63)`, 'ter:InvalidHostname');
      await ctx.entry.camera.setConfig([['Network.Hostname', name]], { signal: ctx.signal });
      return el('tds:SetHostnameResponse');
    },
  },
  {
    name: 'GetDNS',
    access: 'viewer',
    handle: async (_r, ctx) => {
      const { table, iface } = await network(ctx);
      const dhcp = bool(iface.DhcpEnable) ?? false;
      const domain = str(table.Domain)?.trim();
      const servers = dnsServers(iface).map((a) => ipAddress(dhcp ? 'tt:DNSFromDHCP' : 'tt:DNSManual', a));
      return el('tds:GetDNSResponse', el('tds:DNSInformation', [el('tt:FromDHCP', dhcp), opt('tt:SearchDomain', domain || undefined), servers]));
    },
  },
  {
    name: 'SetDNS',
    access: 'admin',
    handle: async (request, ctx) => {
      const fromDhcp = boolArg(request, 'FromDHCP');
      const domains = children(request, 'SearchDomain').map((d) => d.text);
      for (const d of domains) if (!DNS_NAME.test(d)) throw invalidArg(`'${d}' is not a DNS domain`, 'ter:InvalidDnsName');
      if (domains.length > 1) throw invalidArg('the camera keeps one search domain');
      const servers = children(request, 'DNSManual').map((n) => readHost(n, false));
      const { name, iface } = await network(ctx);
      // The camera takes DNS from DHCP only together with its address (one DhcpEnable per interface).
      if (fromDhcp !== (bool(iface.DhcpEnable) ?? false)) {
        throw invalidArg(`the camera takes DNS servers from DHCP exactly when its address comes from DHCP (now ${String(bool(iface.DhcpEnable) ?? false)})`);
      }
      const slots = Math.max(list(iface.DnsServers).length, 1);
      if (servers.length > slots) throw invalidArg(`the camera keeps at most ${slots} DNS servers`);
      if (!fromDhcp && servers.length === 0) throw invalidArg('at least one DNSManual address is needed');
      const params: Array<[string, string]> = [];
      if (domains.length === 1) params.push(['Network.Domain', domains[0]!]);
      if (!fromDhcp) for (let i = 0; i < slots; i++) params.push([`Network.${name}.DnsServers[${i}]`, servers[i] ?? '0.0.0.0']);
      await ctx.entry.camera.setConfig(params, { signal: ctx.signal });
      return el('tds:SetDNSResponse');
    },
  },
  {
    name: 'GetNTP',
    access: 'viewer',
    handle: async (_r, ctx) => {
      const ntp = obj((await ctx.entry.camera.getConfig('NTP', { signal: ctx.signal })).NTP) ?? {};
      const address = str(ntp.Address)?.trim();
      return el('tds:GetNTPResponse', el('tds:NTPInformation', [el('tt:FromDHCP', false), address ? networkHost('tt:NTPManual', address) : undefined]));
    },
  },
  {
    name: 'SetNTP',
    access: 'admin',
    handle: async (request, ctx) => {
      if (boolArg(request, 'FromDHCP')) throw invalidArg('the camera cannot take its NTP server from DHCP');
      const hosts = children(request, 'NTPManual').map((n) => readHost(n, true));
      if (hosts.length !== 1) throw invalidArg(`the camera keeps exactly one NTP server (got ${hosts.length})`);
      await ctx.entry.camera.setConfig([['NTP.Address', hosts[0]!]], { signal: ctx.signal });
      return el('tds:SetNTPResponse');
    },
  },
  { name: 'GetNetworkInterfaces', access: 'viewer', handle: getNetworkInterfaces },
  { name: 'GetNetworkProtocols', access: 'viewer', handle: getNetworkProtocols },
  {
    name: 'GetNetworkDefaultGateway',
    access: 'viewer',
    handle: async (_r, ctx) => {
      const gw = str((await network(ctx)).iface.DefaultGateway)?.trim();
      return el('tds:GetNetworkDefaultGatewayResponse', el('tds:NetworkGateway', gw && isIPv4(gw) ? el('tt:IPv4Address', gw) : undefined));
    },
  },
  {
    name: 'GetScopes',
    access: 'viewer',
    handle: async (_r, ctx) =>
      el('tds:GetScopesResponse', [
        ...fixedScopes(ctx.entry).map((s) => el('tds:Scopes', [el('tt:ScopeDef', 'Fixed'), el('tt:ScopeItem', s)])),
        ...stateOf(ctx.entry.id).configurable.map((s) => el('tds:Scopes', [el('tt:ScopeDef', 'Configurable'), el('tt:ScopeItem', s)])),
      ]),
  },
  {
    name: 'SetScopes',
    access: 'admin',
    handle: async (request, ctx) => {
      const scopes = scopeArgs(request, 'Scopes');
      const fixed = new Set(fixedScopes(ctx.entry));
      const clash = scopes.find((s) => fixed.has(s));
      if (clash) throw new OnvifFault('Sender', ['ter:OperationProhibited', 'ter:ScopeOverwrite'], `'${clash}' is a fixed scope`);
      if (scopes.length > MAX_CONFIGURABLE_SCOPES) throw new OnvifFault('Receiver', ['ter:Action', 'ter:TooManyScopes'], `at most ${MAX_CONFIGURABLE_SCOPES} configurable scopes`);
      stateOf(ctx.entry.id).configurable = scopes;
      discoveryChanges.emit('change', ctx.entry.id);
      return el('tds:SetScopesResponse');
    },
  },
  {
    name: 'AddScopes',
    access: 'admin',
    handle: async (request, ctx) => {
      const scopes = scopeArgs(request, 'ScopeItem');
      const state = stateOf(ctx.entry.id);
      const fixed = new Set(fixedScopes(ctx.entry));
      const merged = [...new Set([...state.configurable, ...scopes.filter((s) => !fixed.has(s))])];
      if (merged.length > MAX_CONFIGURABLE_SCOPES) throw new OnvifFault('Receiver', ['ter:Action', 'ter:TooManyScopes'], `at most ${MAX_CONFIGURABLE_SCOPES} configurable scopes`);
      state.configurable = merged;
      discoveryChanges.emit('change', ctx.entry.id);
      return el('tds:AddScopesResponse');
    },
  },
  {
    name: 'RemoveScopes',
    access: 'admin',
    handle: async (request, ctx) => {
      const scopes = scopeArgs(request, 'ScopeItem');
      const state = stateOf(ctx.entry.id);
      const fixed = new Set(fixedScopes(ctx.entry));
      for (const s of scopes) {
        if (fixed.has(s)) throw invalidArg(`'${s}' is a fixed scope`, 'ter:FixedScope');
        if (!state.configurable.includes(s)) throw invalidArg(`'${s}' is not a scope of this device`, 'ter:NoScope');
      }
      state.configurable = state.configurable.filter((s) => !scopes.includes(s));
      discoveryChanges.emit('change', ctx.entry.id);
      return el('tds:RemoveScopesResponse', scopes.map((s) => el('tds:ScopeItem', s)));
    },
  },
  {
    name: 'GetDiscoveryMode',
    access: 'viewer',
    handle: async (_r, ctx) => el('tds:GetDiscoveryModeResponse', el('tds:DiscoveryMode', stateOf(ctx.entry.id).mode)),
  },
  {
    name: 'SetDiscoveryMode',
    access: 'admin',
    handle: async (request, ctx) => {
      const mode = textAt(request, 'DiscoveryMode');
      if (mode !== 'Discoverable' && mode !== 'NonDiscoverable') throw invalidArg(`DiscoveryMode must be Discoverable or NonDiscoverable (got '${mode ?? ''}')`);
      stateOf(ctx.entry.id).mode = mode;
      discoveryChanges.emit('change', ctx.entry.id);
      return el('tds:SetDiscoveryModeResponse');
    },
  },
  {
    name: 'GetUsers',
    access: 'admin',
    handle: async (_r, ctx) => {
      fleetAdmin(ctx);
      return el(
        'tds:GetUsersResponse',
        ctx.users.listUsers().map((u) => el('tds:User', [el('tt:Username', u.name), el('tt:UserLevel', ROLE_LEVEL[u.role])])),
      );
    },
  },
  {
    name: 'CreateUsers',
    access: 'admin',
    handle: async (request, ctx) => {
      fleetAdmin(ctx);
      const users = userArgs(request);
      const seen = new Set<string>();
      for (const u of users) {
        if (ctx.users.passwordOf(u.name) !== undefined || seen.has(u.name)) {
          throw new OnvifFault('Sender', ['ter:OperationProhibited', 'ter:UsernameClash'], `user '${u.name}' exists already`);
        }
        if (u.password === undefined) throw invalidArg(`user '${u.name}' needs a password`, 'ter:Password');
        seen.add(u.name);
      }
      for (const u of users) ctx.users.setUser(u.name, u.password!, u.role);
      return el('tds:CreateUsersResponse');
    },
  },
  {
    name: 'DeleteUsers',
    access: 'admin',
    handle: async (request, ctx) => {
      fleetAdmin(ctx);
      const names = children(request, 'Username').map((n) => n.text);
      if (names.length === 0) throw invalidArg('at least one Username is needed');
      for (const n of names) {
        if (ctx.users.passwordOf(n) === undefined) throw invalidArg(`no user '${n}'`, 'ter:UsernameMissing');
        if (n === ctx.principal?.name) throw invalidArg('a user cannot delete itself', 'ter:FixedUser');
      }
      ensureAdminsRemain(ctx, new Map(names.map((n) => [n, undefined])));
      for (const n of names) ctx.users.deleteUser(n);
      return el('tds:DeleteUsersResponse');
    },
  },
  {
    name: 'SetUser',
    access: 'admin',
    handle: async (request, ctx) => {
      fleetAdmin(ctx);
      const users = userArgs(request);
      for (const u of users) if (ctx.users.passwordOf(u.name) === undefined) throw invalidArg(`no user '${u.name}'`, 'ter:UsernameMissing');
      ensureAdminsRemain(ctx, new Map(users.map((u) => [u.name, u.role])));
      for (const u of users) ctx.users.setUser(u.name, u.password ?? ctx.users.passwordOf(u.name)!, u.role);
      return el('tds:SetUserResponse');
    },
  },
  {
    name: 'SystemReboot',
    access: 'admin',
    handle: async (_r, ctx) => {
      takeRebootToken(ctx);
      await ctx.entry.camera.call(MAGIC_BOX, [['action', 'reboot']], { signal: ctx.signal });
      return el('tds:SystemRebootResponse', el('tds:Message', 'The camera is rebooting.'));
    },
  },
  {
    name: 'SetSystemFactoryDefault',
    access: 'admin',
    handle: async (request, ctx) => {
      const kind = textAt(request, 'FactoryDefault');
      if (kind === 'Hard') {
        // A hard reset also resets the camera's address and would cut the gateway off from it.
        throw new OnvifFault('Receiver', ['ter:ActionNotSupported'], 'a Hard reset would reset the camera network settings and lose it; use Soft');
      }
      if (kind !== 'Soft') throw invalidArg(`FactoryDefault must be Hard or Soft (got '${kind ?? ''}')`);
      // Soft keeps the network settings (ONVIF Core): every table but Network back to defaults.
      takeRebootToken(ctx);
      await ctx.entry.camera.call('/cgi-bin/configManager.cgi', [['action', 'restoreExcept'], ['names[0]', 'Network']], { signal: ctx.signal });
      return el('tds:SetSystemFactoryDefaultResponse');
    },
  },
  ...deviceRelayOperations,
];

export const deviceService: OnvifService = {
  key: 'device',
  ns: NS.tds,
  path: 'device_service',
  version: { major: 2, minor: 6 },
  available: async () => true,
  capabilities: deviceServiceCapabilities,
  operations,
};
