// ONVIF device service against the simulator: the pre-auth set, true UTC from the camera's clock
// and time zone, writes that reach the camera (and none for bad input), identity that stays
// distinct across cameras, capabilities in XSD order, scopes, gateway users, reboot and reset.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { parseKeyValue } from '../adapters/cgi/codec.ts';
import { cameraWallToUtc, dstActive, formatCameraTime, parseCameraTime, parsePosixTz, posixTz, ruleInstant, utcToCameraWall, zoneIndexOf, type Dst } from '../adapters/onvif/camera-time.ts';
import { discoveryModeOf, scopesOf } from '../adapters/onvif/device.ts';
import { derivedHwAddress, endpointReference } from '../adapters/onvif/identity.ts';
import { NS } from '../adapters/onvif/soap.ts';
import { child, children, textAt, type XmlNode } from '../adapters/onvif/xml.ts';
import type { Express } from 'express';
import { buildApp, onvifOf } from '../gateway/app.ts';
import { UserStore } from '../gateway/auth.ts';
import { createLogger } from '../gateway/logger.ts';
import { RateLimiter } from '../gateway/rate-limit.ts';
import { startSimulator, type Simulator } from '../simulator/server.ts';
import { envelope, op, readAnswer, soapCall, type SoapAnswer } from './onvif-client.ts';
import { startStack, USERS, type Stack } from './stack.ts';

type User = { name: string; password: string };

function tds(stack: Stack, name: string, inner = '', user: User | null = USERS.admin, path?: string): Promise<SoapAnswer> {
  return soapCall(stack.app, op('tds', NS.tds, name, inner), { ...(user !== null ? { user } : {}), ...(path ? { path } : {}) });
}

function ok(a: SoapAnswer, name: string): XmlNode {
  assert.equal(a.status, 200, `${name}: ${a.text.slice(-400)}`);
  assert.equal(a.body.local, `${name}Response`);
  assert.equal(a.body.ns, NS.tds);
  return a.body;
}

function fault(a: SoapAnswer, status: number, ...subcodes: string[]): void {
  assert.equal(a.status, status, a.text.slice(-400));
  assert.equal(a.body.local, 'Fault');
  assert.deepEqual(a.subcodes, subcodes);
}

/** Camera calls that change something (every write on this camera is a GET with a set/reboot action). */
function writes(sim: Simulator): string[] {
  return sim.requestLog.map((r) => r.rawUrl).filter((u) => /action=(set|reboot|restore)/.test(u));
}

function utcOf(node: XmlNode | undefined): number {
  const n = (path: string[]): number => Number(textAt(node, ...path));
  return Date.UTC(n(['Date', 'Year']), n(['Date', 'Month']) - 1, n(['Date', 'Day']), n(['Time', 'Hour']), n(['Time', 'Minute']), n(['Time', 'Second']));
}

const names = (node: XmlNode | undefined): string[] => node?.children.map((c) => c.local) ?? [];

/** The configurable scopes of a camera (all but the fixed ones, which come first). */
function stateScopes(entry: Parameters<typeof scopesOf>[0]): string[] {
  return scopesOf(entry).filter((s) => !/\/(Profile|type|hardware|name)\//.test(s));
}

/** The simulator's wall clock (global.cgi getCurrentTime, through our client over real HTTP). */
async function simulatorWall(stack: Stack): Promise<number> {
  const body = await stack.cameras.get('cam1')!.camera.call('/cgi-bin/global.cgi', [['action', 'getCurrentTime']]);
  const m = /^result=(\d+)-(\d+)-(\d+) (\d+):(\d+):(\d+)/.exec(body.trim())!;
  const [y, mo, d, h, mi, sec] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  return Date.UTC(y, mo - 1, d, h, mi, sec);
}

/** What the camera itself answers to a magicBox getter (through our client, over real HTTP). */
async function cameraSays(stack: Stack, action: string, key: string): Promise<string> {
  const body = await stack.cameras.get('cam1')!.camera.call('/cgi-bin/magicBox.cgi', [['action', action]]);
  return String(parseKeyValue(body).doc[key]).trim();
}

describe('ONVIF device service', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack.close();
  });

  it('answers the pre-auth set without credentials and refuses the rest with 401 ter:NotAuthorized', async () => {
    const open: Array<[string, string]> = [
      ['GetSystemDateAndTime', ''],
      ['GetCapabilities', ''],
      ['GetServices', '<tds:IncludeCapability>true</tds:IncludeCapability>'],
      ['GetServiceCapabilities', ''],
      ['GetWsdlUrl', ''],
      ['GetHostname', ''],
      ['GetEndpointReference', ''],
    ];
    for (const [name, inner] of open) ok(await tds(stack, name, inner, null), name);
    for (const name of ['GetDeviceInformation', 'GetDNS', 'GetNTP', 'GetNetworkInterfaces', 'GetNetworkProtocols', 'GetScopes', 'GetUsers', 'GetRelayOutputs', 'SystemReboot']) {
      const a = await tds(stack, name, '', null);
      fault(a, 401, 'ter:NotAuthorized');
      assert.match(String(a.headers['www-authenticate']), /^Digest /, name);
    }
    assert.equal(writes(stack.sim).length, 0);
  });

  it('gives true UTC: the simulator clock taken back by its time zone, with the POSIX TZ and the NTP flag', async () => {
    stack.sim.setConfigValue('table.NTP.TimeZone', '13'); // GMT+08:00
    stack.sim.setConfigValue('table.Locales.DSTEnable', 'false');
    stack.sim.setConfigValue('table.NTP.Enable', 'true');
    const wall = await simulatorWall(stack);
    const sdt = child(ok(await tds(stack, 'GetSystemDateAndTime', '', null), 'GetSystemDateAndTime'), 'SystemDateAndTime');
    assert.ok(Math.abs(utcOf(child(sdt, 'UTCDateTime')) - (wall - 8 * 3_600_000)) < 5000, 'UTC is eight hours behind the camera wall clock');
    assert.ok(Math.abs(utcOf(child(sdt, 'LocalDateTime')) - wall) < 5000, 'local');
    assert.equal(textAt(sdt, 'DateTimeType'), 'NTP');
    assert.equal(textAt(sdt, 'DaylightSavings'), 'false');
    assert.equal(textAt(sdt, 'TimeZone', 'TZ'), 'UTC-08');
    assert.deepEqual(names(sdt), ['DateTimeType', 'DaylightSavings', 'TimeZone', 'UTCDateTime', 'LocalDateTime']);
    assert.deepEqual(names(child(sdt, 'UTCDateTime')), ['Time', 'Date']);

    // DST in force all year long: one more hour; west of Greenwich the POSIX sign is positive.
    stack.sim.setConfigValue('table.NTP.TimeZone', '25'); // GMT-05:00
    stack.sim.setConfigValue('table.NTP.Enable', 'false');
    for (const [k, v] of Object.entries({ DSTEnable: 'true', 'DSTStart.Month': '1', 'DSTStart.Week': '0', 'DSTStart.Day': '1', 'DSTStart.Hour': '0', 'DSTStart.Minute': '0', 'DSTEnd.Month': '12', 'DSTEnd.Week': '0', 'DSTEnd.Day': '31', 'DSTEnd.Hour': '23', 'DSTEnd.Minute': '59' })) {
      stack.sim.setConfigValue(`table.Locales.${k}`, v);
    }
    const dstWall = await simulatorWall(stack);
    const dst = child(ok(await tds(stack, 'GetSystemDateAndTime', '', null), 'GetSystemDateAndTime'), 'SystemDateAndTime');
    assert.ok(Math.abs(utcOf(child(dst, 'UTCDateTime')) - (dstWall + 4 * 3_600_000)) < 5000, 'UTC with DST: wall + 5 h - 1 h');
    assert.equal(textAt(dst, 'DateTimeType'), 'Manual');
    assert.equal(textAt(dst, 'DaylightSavings'), 'true');
    assert.equal(textAt(dst, 'TimeZone', 'TZ'), 'UTC05DST,J1/00:00,J365/23:59');

    // An index outside the camera's list: no UTC is made up.
    stack.sim.setConfigValue('table.NTP.TimeZone', '99');
    const unknown = child(ok(await tds(stack, 'GetSystemDateAndTime', '', null), 'GetSystemDateAndTime'), 'SystemDateAndTime');
    assert.deepEqual(names(unknown), ['DateTimeType', 'DaylightSavings', 'LocalDateTime']);
    stack.sim.setConfigValue('table.Locales.DSTEnable', 'false');
  });

  it('SetSystemDateAndTime writes the zone, DST rule, NTP flag and the camera wall time; bad values write nothing', async () => {
    stack.sim.resetStats();
    const set = (type: string, tz: string, y: number, mo: number, d: number, h = 1, mi = 2, s = 3) =>
      tds(
        stack,
        'SetSystemDateAndTime',
        `<tds:DateTimeType>${type}</tds:DateTimeType><tds:DaylightSavings>false</tds:DaylightSavings><tds:TimeZone><tt:TZ>${tz}</tt:TZ></tds:TimeZone>` +
          `<tds:UTCDateTime><tt:Time><tt:Hour>${h}</tt:Hour><tt:Minute>${mi}</tt:Minute><tt:Second>${s}</tt:Second></tt:Time><tt:Date><tt:Year>${y}</tt:Year><tt:Month>${mo}</tt:Month><tt:Day>${d}</tt:Day></tt:Date></tds:UTCDateTime>`,
      );
    fault(await set('Manual', 'not a zone', 2024, 2, 29), 400, 'ter:InvalidArgVal', 'ter:InvalidTimeZone');
    fault(await set('Manual', 'XYZ-4:15', 2024, 2, 29), 400, 'ter:InvalidArgVal', 'ter:InvalidTimeZone');
    fault(await set('Manual', 'CET-1', 2023, 2, 29), 400, 'ter:InvalidArgVal', 'ter:InvalidDateTime');
    fault(await set('Manual', 'CET-1', 2024, 2, 28, 24), 400, 'ter:InvalidArgVal', 'ter:InvalidDateTime');
    fault(await set('Sometimes', 'CET-1', 2024, 2, 28), 400, 'ter:InvalidArgVal');
    assert.deepEqual(writes(stack.sim), []);

    ok(await set('Manual', 'CET-1CEST,M3.5.0,M10.5.0/3', 2024, 2, 29, 23, 30, 0), 'SetSystemDateAndTime');
    assert.equal(stack.sim.getConfigValue('table.NTP.TimeZone'), '1');
    assert.equal(stack.sim.getConfigValue('table.NTP.Enable'), 'false');
    assert.equal(stack.sim.getConfigValue('table.Locales.DSTEnable'), 'false');
    assert.equal(stack.sim.getConfigValue('table.Locales.DSTStart.Month'), '3');
    assert.equal(stack.sim.getConfigValue('table.Locales.DSTStart.Week'), '-1');
    assert.equal(stack.sim.getConfigValue('table.Locales.DSTEnd.Hour'), '3');
    assert.ok(writes(stack.sim).some((u) => decodeURIComponent(u).endsWith('action=setCurrentTime&time=2024-03-01 00:30:00')), writes(stack.sim).join('\n'));
    // Read back: the UTC the client set.
    const sdt = child(ok(await tds(stack, 'GetSystemDateAndTime', '', null), 'GetSystemDateAndTime'), 'SystemDateAndTime');
    assert.ok(Math.abs(utcOf(child(sdt, 'UTCDateTime')) - Date.UTC(2024, 1, 29, 23, 30, 0)) < 5000);
    // NTP without a server is refused; with one, NTP is switched on.
    stack.sim.setConfigValue('table.NTP.Address', '');
    fault(await tds(stack, 'SetSystemDateAndTime', '<tds:DateTimeType>NTP</tds:DateTimeType><tds:DaylightSavings>false</tds:DaylightSavings>'), 400, 'ter:InvalidArgVal', 'ter:NtpServerUndefined');
    stack.sim.setConfigValue('table.NTP.Address', 'pool.ntp.org');
    ok(await tds(stack, 'SetSystemDateAndTime', '<tds:DateTimeType>NTP</tds:DateTimeType><tds:DaylightSavings>false</tds:DaylightSavings>'), 'SetSystemDateAndTime');
    assert.equal(stack.sim.getConfigValue('table.NTP.Enable'), 'true');
    // SetSystemDateAndTime is WRITE_SYSTEM: an operator may not.
    fault(await tds(stack, 'SetSystemDateAndTime', '<tds:DateTimeType>NTP</tds:DateTimeType><tds:DaylightSavings>false</tds:DaylightSavings>', USERS.operator), 400, 'ter:NotAuthorized');
  });

  it('GetDeviceInformation comes from the magicBox getters, in schema order', async () => {
    const info = ok(await tds(stack, 'GetDeviceInformation', '', USERS.viewer), 'GetDeviceInformation');
    assert.deepEqual(names(info), ['Manufacturer', 'Model', 'FirmwareVersion', 'SerialNumber', 'HardwareId']);
    assert.equal(textAt(info, 'Manufacturer'), await cameraSays(stack, 'getVendor', 'vendor'));
    assert.equal(textAt(info, 'Model'), 'WV-V2530LK');
    assert.equal(textAt(info, 'FirmwareVersion'), await cameraSays(stack, 'getSoftwareVersion', 'version'));
    assert.equal(textAt(info, 'SerialNumber'), await cameraSays(stack, 'getSerialNo', 'sn'), 'one camera: the serial as the camera says it');
    assert.equal(textAt(info, 'HardwareId'), await cameraSays(stack, 'getHardwareVersion', 'version'));
  });

  it('GetCapabilities: XAddrs from the request Host, children in XSD order, DeviceIO counts from the camera', async () => {
    const res = await request(stack.app)
      .post('/onvif/cam1/device_service')
      .set('Host', 'gw.example:8081')
      .set('Content-Type', 'application/soap+xml')
      .send(envelope(op('tds', NS.tds, 'GetCapabilities')));
    const caps = child(ok(readAnswer(res.status, res.headers, res.text), 'GetCapabilities'), 'Capabilities');
    const order = ['Analytics', 'Device', 'Events', 'Imaging', 'Media', 'PTZ', 'Extension'];
    const got = names(caps);
    assert.deepEqual(got, [...got].sort((a, b) => order.indexOf(a) - order.indexOf(b)));
    assert.ok(got.includes('Device') && got.includes('Media') && got.includes('Events') && got.at(-1) === 'Extension', got.join());
    const device = child(caps, 'Device');
    assert.equal(textAt(device, 'XAddr'), 'http://gw.example:8081/onvif/cam1/device_service');
    assert.deepEqual(names(device), ['XAddr', 'Network', 'System', 'IO', 'Security']);
    assert.deepEqual(names(child(device, 'System')), ['DiscoveryResolve', 'DiscoveryBye', 'RemoteDiscovery', 'SystemBackup', 'SystemLogging', 'FirmwareUpgrade', 'SupportedVersions']);
    assert.equal(textAt(device, 'IO', 'InputConnectors'), await cameraSaysAlarm(stack, 'getInSlots'));
    assert.equal(textAt(device, 'IO', 'RelayOutputs'), await cameraSaysAlarm(stack, 'getOutSlots'));
    assert.equal(textAt(caps, 'Media', 'XAddr'), 'http://gw.example:8081/onvif/cam1/media_service');
    assert.deepEqual(names(child(caps, 'Events')), ['XAddr', 'WSSubscriptionPolicySupport', 'WSPullPointSupport', 'WSPausableSubscriptionManagerInterfaceSupport']);
    // The device's summary says what the events service itself says.
    const tev = await soapCall(stack.app, op('tev', NS.tev, 'GetServiceCapabilities'), { path: '/onvif/cam1/events_service' });
    assert.equal(tev.status, 200, tev.text);
    const tevCaps = child(tev.body, 'Capabilities')!;
    assert.equal(textAt(caps, 'Events', 'WSSubscriptionPolicySupport'), tevCaps.attrs.get('WSSubscriptionPolicySupport'));
    assert.equal(textAt(caps, 'Events', 'WSPausableSubscriptionManagerInterfaceSupport'), tevCaps.attrs.get('WSPausableSubscriptionManagerInterfaceSupport'));
    const io = child(child(caps, 'Extension'), 'DeviceIO');
    assert.deepEqual(names(io), ['XAddr', 'VideoSources', 'VideoOutputs', 'AudioSources', 'AudioOutputs', 'RelayOutputs']);
    assert.equal(textAt(io, 'XAddr'), 'http://gw.example:8081/onvif/cam1/deviceio_service');

    const only = child(ok(await tds(stack, 'GetCapabilities', '<tds:Category>Media</tds:Category>', null), 'GetCapabilities'), 'Capabilities');
    assert.deepEqual(names(only), ['Media']);
    fault(await tds(stack, 'GetCapabilities', '<tds:Category>Analytics</tds:Category>', null), 500, 'ter:ActionNotSupported', 'ter:NoSuchService');
  });

  it('GetServices lists every service with its own capabilities element; the device one says what we support', async () => {
    const services = children(ok(await tds(stack, 'GetServices', '<tds:IncludeCapability>true</tds:IncludeCapability>', null), 'GetServices'), 'Service');
    const device = services.find((s) => textAt(s, 'Namespace') === NS.tds);
    assert.ok(device);
    assert.deepEqual(names(device), ['Namespace', 'XAddr', 'Capabilities', 'Version']);
    const caps = child(child(device, 'Capabilities'), 'Capabilities', NS.tds);
    assert.deepEqual(names(caps), ['Network', 'Security', 'System']);
    const security = child(caps, 'Security')!.attrs;
    assert.equal(security.get('UsernameToken'), 'true');
    assert.equal(security.get('HttpDigest'), 'true');
    assert.equal(child(caps, 'System')!.attrs.get('DiscoveryBye'), 'true');
    assert.ok(services.some((s) => textAt(s, 'Namespace') === NS.tmd && child(child(s, 'Capabilities'), 'Capabilities', NS.tmd)));
    const plain = children(ok(await tds(stack, 'GetServices', '<tds:IncludeCapability>false</tds:IncludeCapability>', null), 'GetServices'), 'Service');
    assert.equal(plain.length, services.length);
    assert.ok(plain.every((s) => !child(s, 'Capabilities')));
    const sc = ok(await tds(stack, 'GetServiceCapabilities', '', null), 'GetServiceCapabilities');
    assert.equal(child(sc, 'Capabilities', NS.tds)?.children.length, 3);
  });

  it('hostname: read before auth, written to the camera by an admin only, bad names write nothing', async () => {
    stack.sim.resetStats();
    assert.equal(textAt(ok(await tds(stack, 'GetHostname', '', null), 'GetHostname'), 'HostnameInformation', 'Name'), stack.sim.getConfigValue('table.Network.Hostname'));
    fault(await tds(stack, 'SetHostname', '<tds:Name>camera-7</tds:Name>', USERS.viewer), 400, 'ter:NotAuthorized');
    fault(await tds(stack, 'SetHostname', '<tds:Name>camera-7</tds:Name>', USERS.operator), 400, 'ter:NotAuthorized');
    for (const bad of ['-lead', 'under_score', 'a b', 'x'.repeat(64), '', 'dot.ted']) {
      fault(await tds(stack, 'SetHostname', `<tds:Name>${bad}</tds:Name>`), 400, 'ter:InvalidArgVal', 'ter:InvalidHostname');
    }
    assert.deepEqual(writes(stack.sim), []);
    ok(await tds(stack, 'SetHostname', '<tds:Name>camera-7</tds:Name>'), 'SetHostname');
    assert.equal(stack.sim.getConfigValue('table.Network.Hostname'), 'camera-7');
    assert.equal(textAt(ok(await tds(stack, 'GetHostname'), 'GetHostname'), 'HostnameInformation', 'Name'), 'camera-7');
  });

  it('DNS and NTP: read from the Network and NTP tables, written there, bad addresses write nothing', async () => {
    stack.sim.resetStats();
    const dns = child(ok(await tds(stack, 'GetDNS', '', USERS.viewer), 'GetDNS'), 'DNSInformation');
    assert.deepEqual(names(dns), ['FromDHCP', 'SearchDomain', 'DNSManual', 'DNSManual']);
    assert.equal(textAt(children(dns, 'DNSManual')[0], 'IPv4Address'), stack.sim.getConfigValue('table.Network.eth0.DnsServers[0]'));
    const ipv4 = (a: string) => `<tds:DNSManual><tt:Type>IPv4</tt:Type><tt:IPv4Address>${a}</tt:IPv4Address></tds:DNSManual>`;
    fault(await tds(stack, 'SetDNS', `<tds:FromDHCP>false</tds:FromDHCP>${ipv4('300.1.1.1')}`), 400, 'ter:InvalidArgVal', 'ter:InvalidIPv4Address');
    fault(await tds(stack, 'SetDNS', `<tds:FromDHCP>false</tds:FromDHCP>${ipv4('1.1.1.1')}${ipv4('8.8.8.8')}${ipv4('9.9.9.9')}`), 400, 'ter:InvalidArgVal');
    fault(await tds(stack, 'SetDNS', `<tds:FromDHCP>true</tds:FromDHCP>`), 400, 'ter:InvalidArgVal');
    const ntpHost = (type: string, tag: string, v: string) => `<tds:FromDHCP>false</tds:FromDHCP><tds:NTPManual><tt:Type>${type}</tt:Type><tt:${tag}>${v}</tt:${tag}></tds:NTPManual>`;
    fault(await tds(stack, 'SetNTP', ntpHost('IPv4', 'IPv4Address', '10.0.0')), 400, 'ter:InvalidArgVal', 'ter:InvalidIPv4Address');
    fault(await tds(stack, 'SetNTP', ntpHost('DNS', 'DNSname', 'bad name!')), 400, 'ter:InvalidArgVal', 'ter:InvalidDnsName');
    fault(await tds(stack, 'SetNTP', '<tds:FromDHCP>true</tds:FromDHCP>'), 400, 'ter:InvalidArgVal');
    fault(await tds(stack, 'SetNTP', ntpHost('DNS', 'DNSname', 'time.example.org'), USERS.operator), 400, 'ter:NotAuthorized');
    assert.deepEqual(writes(stack.sim), []);

    ok(await tds(stack, 'SetDNS', `<tds:FromDHCP>false</tds:FromDHCP><tds:SearchDomain>site.example</tds:SearchDomain>${ipv4('192.0.2.53')}`), 'SetDNS');
    assert.equal(stack.sim.getConfigValue('table.Network.eth0.DnsServers[0]'), '192.0.2.53');
    assert.equal(stack.sim.getConfigValue('table.Network.Domain'), 'site.example');
    const after = child(ok(await tds(stack, 'GetDNS'), 'GetDNS'), 'DNSInformation');
    assert.deepEqual(children(after, 'DNSManual').map((n) => textAt(n, 'IPv4Address')), ['192.0.2.53'], 'the unused slot is not reported');

    ok(await tds(stack, 'SetNTP', ntpHost('DNS', 'DNSname', 'time.example.org')), 'SetNTP');
    assert.equal(stack.sim.getConfigValue('table.NTP.Address'), 'time.example.org');
    ok(await tds(stack, 'SetNTP', ntpHost('IPv4', 'IPv4Address', '192.0.2.123')), 'SetNTP');
    assert.equal(stack.sim.getConfigValue('table.NTP.Address'), '192.0.2.123');
    const ntp = child(ok(await tds(stack, 'GetNTP', '', USERS.viewer), 'GetNTP'), 'NTPInformation');
    assert.deepEqual(names(child(ntp, 'NTPManual')), ['Type', 'IPv4Address']);
    assert.equal(textAt(ntp, 'NTPManual', 'IPv4Address'), '192.0.2.123');
  });

  it('network interfaces, protocols and default gateway come from the camera; the HTTP port is the gateway one', async () => {
    const nic = children(ok(await tds(stack, 'GetNetworkInterfaces', '', USERS.viewer), 'GetNetworkInterfaces'), 'NetworkInterfaces');
    assert.equal(nic.length, 1);
    assert.equal(nic[0]!.attrs.get('token'), 'eth0');
    assert.deepEqual(names(nic[0]), ['Enabled', 'Info', 'IPv4']);
    assert.deepEqual(names(child(nic[0], 'Info')), ['Name', 'HwAddress', 'MTU']);
    assert.equal(textAt(nic[0], 'Info', 'HwAddress'), stack.sim.getConfigValue('table.Network.eth0.PhysicalAddress'));
    assert.equal(textAt(nic[0], 'IPv4', 'Config', 'Manual', 'Address'), stack.sim.getConfigValue('table.Network.eth0.IPAddress'));
    stack.sim.setConfigValue('table.Network.eth0.SubnetMask', '255.255.255.0');
    const again = children(ok(await tds(stack, 'GetNetworkInterfaces'), 'GetNetworkInterfaces'), 'NetworkInterfaces');
    assert.equal(textAt(again[0], 'IPv4', 'Config', 'Manual', 'PrefixLength'), '24');
    assert.deepEqual(names(child(child(again[0], 'IPv4'), 'Config')), ['Manual', 'DHCP']);

    stack.sim.setConfigValue('table.RTSP.Port', '8554');
    const res = await request(stack.app)
      .post('/onvif/cam1/device_service')
      .set('Host', 'gw.example:8081')
      .set('Content-Type', 'application/soap+xml')
      .send(envelope(op('tds', NS.tds, 'GetNetworkProtocols'), { user: USERS.viewer }));
    const protocols = children(ok(readAnswer(res.status, res.headers, res.text), 'GetNetworkProtocols'), 'NetworkProtocols');
    assert.deepEqual(protocols.map((p) => [textAt(p, 'Name'), textAt(p, 'Port')]), [['HTTP', '8081'], ['RTSP', '8554']]);

    const gw = ok(await tds(stack, 'GetNetworkDefaultGateway', '', USERS.viewer), 'GetNetworkDefaultGateway');
    assert.equal(textAt(gw, 'NetworkGateway', 'IPv4Address'), stack.sim.getConfigValue('table.Network.eth0.DefaultGateway'));
  });

  it('scopes: fixed ones cannot be removed, configurable ones are kept per camera and seen by WS-Discovery', async () => {
    const scopes = async () => children(ok(await tds(stack, 'GetScopes', '', USERS.viewer), 'GetScopes'), 'Scopes');
    let list = await scopes();
    const fixed = list.filter((s) => textAt(s, 'ScopeDef') === 'Fixed').map((s) => textAt(s, 'ScopeItem'));
    for (const s of ['Profile/Streaming', 'Profile/T', 'type/video_encoder', 'hardware/WV-V2530LK', 'name/cam1']) assert.ok(fixed.includes(`onvif://www.onvif.org/${s}`), s);
    assert.deepEqual(names(list[0]), ['ScopeDef', 'ScopeItem']);

    const mine = 'onvif://www.onvif.org/location/building/7';
    ok(await tds(stack, 'AddScopes', `<tds:ScopeItem>${mine}</tds:ScopeItem>`), 'AddScopes');
    list = await scopes();
    assert.ok(list.some((s) => textAt(s, 'ScopeDef') === 'Configurable' && textAt(s, 'ScopeItem') === mine));
    const entry = stack.cameras.get('cam1')!;
    assert.ok(scopesOf(entry).includes(mine));
    fault(await tds(stack, 'RemoveScopes', '<tds:ScopeItem>onvif://www.onvif.org/Profile/T</tds:ScopeItem>'), 400, 'ter:InvalidArgVal', 'ter:FixedScope');
    fault(await tds(stack, 'RemoveScopes', '<tds:ScopeItem>onvif://www.onvif.org/not/there</tds:ScopeItem>'), 400, 'ter:InvalidArgVal', 'ter:NoScope');
    fault(await tds(stack, 'SetScopes', '<tds:Scopes>onvif://www.onvif.org/Profile/T</tds:Scopes>'), 400, 'ter:OperationProhibited', 'ter:ScopeOverwrite');
    fault(await tds(stack, 'AddScopes', `<tds:ScopeItem>${mine}x</tds:ScopeItem>`, USERS.operator), 400, 'ter:NotAuthorized');
    const before = stateScopes(entry);
    ok(await tds(stack, 'SetScopes', `<tds:Scopes>${mine}</tds:Scopes><tds:Scopes>onvif://www.onvif.org/location/floor/2</tds:Scopes>`), 'SetScopes');
    assert.deepEqual(stateScopes(entry), [mine, 'onvif://www.onvif.org/location/floor/2'], 'SetScopes replaces the configurable scopes');
    ok(await tds(stack, 'SetScopes', before.map((s) => `<tds:Scopes>${s}</tds:Scopes>`).join('') + `<tds:Scopes>${mine}</tds:Scopes>`), 'SetScopes');
    const removed = ok(await tds(stack, 'RemoveScopes', `<tds:ScopeItem>${mine}</tds:ScopeItem>`), 'RemoveScopes');
    assert.deepEqual(children(removed, 'ScopeItem').map((s) => s.text), [mine]);
    assert.ok(!scopesOf(entry).includes(mine));
    assert.ok(scopesOf(entry).includes('onvif://www.onvif.org/Profile/T'));

    assert.equal(textAt(ok(await tds(stack, 'GetDiscoveryMode', '', USERS.viewer), 'GetDiscoveryMode'), 'DiscoveryMode'), 'Discoverable');
    fault(await tds(stack, 'SetDiscoveryMode', '<tds:DiscoveryMode>Hidden</tds:DiscoveryMode>'), 400, 'ter:InvalidArgVal');
    ok(await tds(stack, 'SetDiscoveryMode', '<tds:DiscoveryMode>NonDiscoverable</tds:DiscoveryMode>'), 'SetDiscoveryMode');
    assert.equal(discoveryModeOf(entry), 'NonDiscoverable');
    ok(await tds(stack, 'SetDiscoveryMode', '<tds:DiscoveryMode>Discoverable</tds:DiscoveryMode>'), 'SetDiscoveryMode');
    assert.equal(discoveryModeOf(entry), 'Discoverable');
  });

  it('GetEndpointReference is the camera UUIDv5 and GetWsdlUrl a URL', async () => {
    assert.equal(textAt(ok(await tds(stack, 'GetEndpointReference', '', null), 'GetEndpointReference'), 'GUID'), endpointReference('cam1'));
    assert.match(textAt(ok(await tds(stack, 'GetWsdlUrl', '', null), 'GetWsdlUrl'), 'WsdlUrl') ?? '', /^https?:\/\//);
  });

  it('SystemReboot and SetSystemFactoryDefault reach the camera for admins only; Hard reset is refused', async () => {
    stack.sim.resetStats();
    fault(await tds(stack, 'SystemReboot', '', USERS.operator), 400, 'ter:NotAuthorized');
    fault(await tds(stack, 'SetSystemFactoryDefault', '<tds:FactoryDefault>Soft</tds:FactoryDefault>', USERS.operator), 400, 'ter:NotAuthorized');
    fault(await tds(stack, 'SetSystemFactoryDefault', '<tds:FactoryDefault>Hard</tds:FactoryDefault>'), 500, 'ter:ActionNotSupported');
    fault(await tds(stack, 'SetSystemFactoryDefault', '<tds:FactoryDefault>Medium</tds:FactoryDefault>'), 400, 'ter:InvalidArgVal');
    assert.deepEqual(writes(stack.sim), []);
    stack.sim.setConfigValue('table.General.MachineName', 'changed');
    ok(await tds(stack, 'SetSystemFactoryDefault', '<tds:FactoryDefault>Soft</tds:FactoryDefault>'), 'SetSystemFactoryDefault');
    assert.deepEqual(writes(stack.sim).map((u) => decodeURIComponent(u)), ['/cgi-bin/configManager.cgi?action=restoreExcept&names[0]=Network']);
    assert.notEqual(stack.sim.getConfigValue('table.General.MachineName'), 'changed', 'the camera restored its tables');
    const reboot = ok(await tds(stack, 'SystemReboot'), 'SystemReboot');
    assert.ok((textAt(reboot, 'Message') ?? '').length > 0);
    assert.ok(writes(stack.sim).some((u) => u.includes('magicBox.cgi?action=reboot')));
  });
});

async function cameraSaysAlarm(stack: Stack, action: string): Promise<string> {
  const body = await stack.cameras.get('cam1')!.camera.call('/cgi-bin/alarm.cgi', [['action', action]]);
  return String(parseKeyValue(body).doc.result).trim();
}

describe('ONVIF device service: gateway users', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack.close();
  });

  const user = (name: string, level: string, password?: string) =>
    `<tds:User><tt:Username>${name}</tt:Username>${password === undefined ? '' : `<tt:Password>${password}</tt:Password>`}<tt:UserLevel>${level}</tt:UserLevel></tds:User>`;

  it('lists the gateway users with ONVIF levels and never a password; admins only', async () => {
    const users = children(ok(await tds(stack, 'GetUsers'), 'GetUsers'), 'User');
    assert.deepEqual(
      users.map((u) => [textAt(u, 'Username'), textAt(u, 'UserLevel')]),
      [['admin', 'Administrator'], ['olga', 'Operator'], ['victor', 'User']],
    );
    assert.ok(users.every((u) => !child(u, 'Password')));
    fault(await tds(stack, 'GetUsers', '', USERS.operator), 400, 'ter:NotAuthorized');
  });

  it('CreateUsers makes a gateway login at once; clashes and bad values create nobody', async () => {
    fault(await tds(stack, 'CreateUsers', user('olga', 'User', 'another-pass-1')), 400, 'ter:OperationProhibited', 'ter:UsernameClash');
    fault(await tds(stack, 'CreateUsers', user('nina', 'User', 'nina-pass-1') + user('nina', 'User', 'nina-pass-2')), 400, 'ter:OperationProhibited', 'ter:UsernameClash');
    fault(await tds(stack, 'CreateUsers', user('nina', 'User', 'x'.repeat(65))), 400, 'ter:InvalidArgVal', 'ter:PasswordTooLong');
    fault(await tds(stack, 'CreateUsers', user('nina', 'User', 'short')), 400, 'ter:InvalidArgVal', 'ter:Password');
    fault(await tds(stack, 'CreateUsers', user('nina', 'Anonymous', 'nina-pass-1')), 400, 'ter:OperationProhibited', 'ter:AnonymousNotAllowed');
    fault(await tds(stack, 'CreateUsers', user('ni:na', 'User', 'nina-pass-1')), 400, 'ter:InvalidArgVal');
    fault(await tds(stack, 'CreateUsers', user('nina', 'User')), 400, 'ter:InvalidArgVal', 'ter:Password');
    fault(await tds(stack, 'CreateUsers', user('nina', 'User', 'nina-pass-1'), USERS.operator), 400, 'ter:NotAuthorized');
    fault(await tds(stack, 'GetDeviceInformation', '', { name: 'nina', password: 'nina-pass-1' }), 400, 'ter:NotAuthorized');

    ok(await tds(stack, 'CreateUsers', user('nina', 'Operator', 'nina-pass-1')), 'CreateUsers');
    const nina = { name: 'nina', password: 'nina-pass-1' };
    ok(await tds(stack, 'GetDeviceInformation', '', nina), 'GetDeviceInformation');
    fault(await tds(stack, 'GetUsers', '', nina), 400, 'ter:NotAuthorized');
    // The same user works on the REST face (one user store).
    const rest = await request(stack.app).get('/api/v1/cameras').auth('nina', 'nina-pass-1');
    assert.equal(rest.status, 200);
  });

  it('SetUser changes level and password; DeleteUsers removes; the last admin and yourself are protected', async () => {
    ok(await tds(stack, 'CreateUsers', user('paul', 'User', 'paul-pass-1')), 'CreateUsers');
    ok(await tds(stack, 'SetUser', user('paul', 'Administrator', 'paul-pass-2')), 'SetUser');
    const paul = { name: 'paul', password: 'paul-pass-2' };
    ok(await tds(stack, 'GetUsers', '', paul), 'GetUsers');
    fault(await tds(stack, 'GetUsers', '', { name: 'paul', password: 'paul-pass-1' }), 400, 'ter:NotAuthorized');
    // A SetUser without Password keeps the password.
    ok(await tds(stack, 'SetUser', user('paul', 'Administrator')), 'SetUser');
    ok(await tds(stack, 'GetUsers', '', paul), 'GetUsers');
    fault(await tds(stack, 'SetUser', user('ghost', 'User', 'ghost-pass-1')), 400, 'ter:InvalidArgVal', 'ter:UsernameMissing');
    fault(await tds(stack, 'DeleteUsers', '<tds:Username>ghost</tds:Username>'), 400, 'ter:InvalidArgVal', 'ter:UsernameMissing');
    fault(await tds(stack, 'DeleteUsers', '<tds:Username>admin</tds:Username>'), 400, 'ter:InvalidArgVal', 'ter:FixedUser');

    // paul deletes admin: allowed (paul stays an admin); then paul is the last admin.
    ok(await tds(stack, 'DeleteUsers', '<tds:Username>admin</tds:Username>', paul), 'DeleteUsers');
    fault(await tds(stack, 'GetUsers', '', USERS.admin), 400, 'ter:NotAuthorized');
    fault(await tds(stack, 'SetUser', user('paul', 'Operator'), paul), 400, 'ter:OperationProhibited', 'ter:FixedUser');
    fault(await tds(stack, 'DeleteUsers', '<tds:Username>paul</tds:Username>', paul), 400, 'ter:InvalidArgVal', 'ter:FixedUser');
    const left = children(ok(await tds(stack, 'GetUsers', '', paul), 'GetUsers'), 'User').map((u) => textAt(u, 'Username'));
    assert.deepEqual(left.sort(), ['nina', 'olga', 'paul', 'victor']);
  });
});

describe('ONVIF device service: two cameras of the same make', () => {
  let stack: Stack;
  let sim2: Simulator;
  before(async () => {
    stack = await startStack();
    sim2 = await startSimulator({ username: 'admin', password: 'cam2-pass-Secret9' });
    stack.cameras.add({ id: 'cam2', baseUrl: sim2.url, username: 'admin', password: 'cam2-pass-Secret9', model: 'WV-V2530LK' }, createLogger('silent'));
  });
  after(async () => {
    await stack.close();
    await sim2.close();
  });

  it('keep distinct serial numbers, hardware addresses and endpoint references', async () => {
    const info = await Promise.all(['cam1', 'cam2'].map((id) => tds(stack, 'GetDeviceInformation', '', USERS.admin, `/onvif/${id}/device_service`)));
    const serials = info.map((a) => textAt(ok(a, 'GetDeviceInformation'), 'SerialNumber'));
    const raw = await cameraSays(stack, 'getSerialNo', 'sn');
    assert.deepEqual(serials, [`${raw}-cam1`, `${raw}-cam2`], 'the same camera serial, told apart by camera id');

    const nics = await Promise.all(['cam1', 'cam2'].map((id) => tds(stack, 'GetNetworkInterfaces', '', USERS.admin, `/onvif/${id}/device_service`)));
    const hw = nics.map((a) => textAt(ok(a, 'GetNetworkInterfaces'), 'NetworkInterfaces', 'Info', 'HwAddress'));
    assert.deepEqual(hw, [derivedHwAddress('cam1'), derivedHwAddress('cam2')]);
    assert.notEqual(hw[0], hw[1]);

    // A camera whose MAC differs keeps its own.
    sim2.setConfigValue('table.Network.eth0.PhysicalAddress', '00:10:5c:aa:bb:cc');
    const old = stack.cameras.get('cam2')!;
    stack.cameras.set(stack.cameras.build({ id: 'cam2', baseUrl: sim2.url, username: 'admin', password: 'cam2-pass-Secret9', model: 'WV-V2530LK' }));
    await old.client.close();
    const own = await tds(stack, 'GetNetworkInterfaces', '', USERS.admin, '/onvif/cam2/device_service');
    assert.equal(textAt(ok(own, 'GetNetworkInterfaces'), 'NetworkInterfaces', 'Info', 'HwAddress'), '00:10:5c:aa:bb:cc');

    const refs = await Promise.all(['cam1', 'cam2'].map((id) => tds(stack, 'GetEndpointReference', '', null, `/onvif/${id}/device_service`)));
    const guids = refs.map((a) => textAt(ok(a, 'GetEndpointReference'), 'GUID'));
    assert.notEqual(guids[0], guids[1]);
    assert.deepEqual(guids, [endpointReference('cam1'), endpointReference('cam2')]);
  });

  it('a camera that does not answer neither fails nor stalls the others', async () => {
    stack.cameras.add({ id: 'cam3', baseUrl: 'http://127.0.0.1:1', username: 'admin', password: 'x', model: 'WV-V2530LK' }, createLogger('silent'));
    for (let i = 0; i < 3; i++) {
      const t0 = Date.now();
      const info = ok(await tds(stack, 'GetDeviceInformation'), 'GetDeviceInformation');
      assert.match(textAt(info, 'SerialNumber') ?? '', /-cam1$/);
      assert.ok(Date.now() - t0 < 3500, `took ${Date.now() - t0} ms`);
    }
    const down = await tds(stack, 'GetDeviceInformation', '', USERS.admin, '/onvif/cam3/device_service');
    assert.ok(down.status >= 500 && textAt(child(down.body, 'Code'), 'Value') === 's:Receiver', down.text.slice(-300));
  });
});

describe('camera clock arithmetic (pure)', () => {
  const noDst: Dst = { enabled: false, start: { Month: 3, Week: -1, Day: 0, Hour: 2, Minute: 0 }, end: { Month: 10, Week: -1, Day: 0, Hour: 3, Minute: 0 } };
  const eu: Dst = { ...noDst, enabled: true };

  it('finds DST boundaries by week day, last week and month day', () => {
    assert.equal(ruleInstant(eu.start, 2024), Date.UTC(2024, 2, 31, 2, 0));
    assert.equal(ruleInstant(eu.end, 2024), Date.UTC(2024, 9, 27, 3, 0));
    assert.equal(ruleInstant({ Month: 11, Week: 1, Day: 0, Hour: 2, Minute: 0 }, 2024), Date.UTC(2024, 10, 3, 2, 0));
    assert.equal(ruleInstant({ Month: 3, Week: 2, Day: 0, Hour: 2, Minute: 0 }, 2024), Date.UTC(2024, 2, 10, 2, 0));
    assert.equal(ruleInstant({ Month: 2, Week: 0, Day: 29, Hour: 0, Minute: 0 }, 2024), Date.UTC(2024, 1, 29));
    assert.equal(ruleInstant({ Month: 13, Week: 1, Day: 0, Hour: 0, Minute: 0 }, 2024), undefined);
    assert.equal(ruleInstant({ Month: 1, Week: 5, Day: 0, Hour: 0, Minute: 0 }, 2024), undefined);
  });

  it('converts wall time and UTC both ways, with northern and southern DST', () => {
    const summer = Date.UTC(2024, 6, 1, 12, 0);
    const winter = Date.UTC(2024, 0, 15, 12, 0);
    assert.equal(cameraWallToUtc(summer, 60, eu), summer - 2 * 3_600_000);
    assert.equal(cameraWallToUtc(winter, 60, eu), winter - 3_600_000);
    assert.equal(cameraWallToUtc(summer, 60, noDst), summer - 3_600_000);
    for (const utc of [summer, winter, Date.UTC(2024, 2, 31, 0, 30), Date.UTC(2024, 9, 27, 2, 30)]) {
      assert.equal(cameraWallToUtc(utcToCameraWall(utc, 60, eu), 60, eu), utc, new Date(utc).toISOString());
    }
    // Southern hemisphere: DST from October to April wraps the year end.
    const south: Dst = { enabled: true, start: { Month: 10, Week: 1, Day: 0, Hour: 2, Minute: 0 }, end: { Month: 4, Week: 1, Day: 0, Hour: 3, Minute: 0 } };
    assert.equal(dstActive(south, Date.UTC(2024, 0, 10)), true);
    assert.equal(dstActive(south, Date.UTC(2024, 6, 10)), false);
    assert.equal(utcToCameraWall(winter, 600, south), winter + 11 * 3_600_000);
  });

  it('writes and reads POSIX TZ strings (west-positive), refusing what is not one', () => {
    assert.equal(posixTz(345, noDst), 'UTC-05:45');
    assert.equal(posixTz(-300, noDst), 'UTC05');
    assert.equal(posixTz(60, eu), 'UTC-01DST,M3.5.0/02:00,M10.5.0/03:00');
    assert.deepEqual(parsePosixTz('CET-1CEST,M3.5.0,M10.5.0/3'), { offsetMinutes: 60, hasDst: true, start: eu.start, end: eu.end });
    assert.deepEqual(parsePosixTz('EST5EDT'), { offsetMinutes: -300, hasDst: true });
    assert.deepEqual(parsePosixTz('<+0545>-5:45'), { offsetMinutes: 345, hasDst: false });
    assert.deepEqual(parsePosixTz(posixTz(60, eu)), { offsetMinutes: 60, hasDst: true, start: eu.start, end: eu.end });
    assert.equal(parsePosixTz('UTC05DST,J1/00:00,J365/23:59')?.end?.Day, 31);
    for (const bad of ['', 'GMT', '+8', 'CET-1CEST,M13.1.0,M10.5.0', 'CET-1CEST,M3.5.7,M10.5.0', 'Europe/Berlin', 'CET-1:00:30']) assert.equal(parsePosixTz(bad), undefined, bad);
    // The camera's list: GMT+05:45 is index 9 (the vendor example), an unlisted offset has none.
    assert.equal(zoneIndexOf(345), 9);
    assert.equal(zoneIndexOf(255), undefined);
  });

  it('reads and writes the camera time format', () => {
    assert.equal(parseCameraTime('2011-7-3 21:02:32'), Date.UTC(2011, 6, 3, 21, 2, 32));
    assert.equal(parseCameraTime('2023-2-29 00:00:00'), undefined);
    assert.equal(parseCameraTime('yesterday'), undefined);
    assert.equal(formatCameraTime(Date.UTC(2024, 2, 1, 0, 30, 0)), '2024-03-01 00:30:00');
  });
});

describe('ONVIF device service: limits', () => {
  let stack: Stack;
  let app: Express;
  const limited = { name: 'lim', password: 'limited-admin-1' };
  before(async () => {
    stack = await startStack();
    // The same camera behind a gateway with an admin limited to cam1 and the default rate limits.
    app = buildApp({
      spec: stack.spec,
      cameras: stack.cameras,
      users: new UserStore([...Object.values(USERS), { ...limited, role: 'admin', cameras: ['cam1'] }]),
      logger: createLogger('silent'),
      rateLimiter: new RateLimiter(),
    });
  });
  after(async () => {
    await onvifOf(app).close();
    await stack.close();
  });

  const on = (name: string, inner: string, user: User) => soapCall(app, op('tds', NS.tds, name, inner), { user });

  it('an admin limited to some cameras may use them but not manage gateway users', async () => {
    ok(await on('GetDeviceInformation', '', limited), 'GetDeviceInformation');
    fault(await on('GetUsers', '', limited), 400, 'ter:NotAuthorized');
    fault(await on('CreateUsers', '<tds:User><tt:Username>sneaky</tt:Username><tt:Password>sneaky-pass-1</tt:Password><tt:UserLevel>Administrator</tt:UserLevel></tds:User>', limited), 400, 'ter:NotAuthorized');
    fault(await on('SetUser', '<tds:User><tt:Username>lim</tt:Username><tt:UserLevel>Administrator</tt:UserLevel></tds:User>', limited), 400, 'ter:NotAuthorized');
    fault(await on('DeleteUsers', '<tds:Username>admin</tds:Username>', limited), 400, 'ter:NotAuthorized');
    assert.equal(children(ok(await on('GetUsers', '', USERS.admin), 'GetUsers'), 'User').length, 4, 'nobody was created or deleted');
  });

  it('reboots take a token of the shared reboot limiter: a second one at once is refused without a camera call', async () => {
    stack.sim.resetStats();
    ok(await on('SystemReboot', '', USERS.admin), 'SystemReboot');
    fault(await on('SystemReboot', '', USERS.admin), 500, 'ter:Action');
    fault(await on('SetSystemFactoryDefault', '<tds:FactoryDefault>Soft</tds:FactoryDefault>', USERS.admin), 500, 'ter:Action');
    assert.deepEqual(writes(stack.sim).filter((u) => /reboot|restore/.test(u)).length, 1);
  });
});

describe('ONVIF device service: PTZ only with a PTZ head', () => {
  it('lists PTZ in GetCapabilities and GetServices exactly when the camera has a head', async () => {
    for (const ptz of [false, true]) {
      const stack = await startStack({ sim: { ptz } });
      try {
        const caps = child(ok(await tds(stack, 'GetCapabilities', '', null), 'GetCapabilities'), 'Capabilities');
        assert.equal(names(caps).includes('PTZ'), ptz);
        const services = children(ok(await tds(stack, 'GetServices', '<tds:IncludeCapability>false</tds:IncludeCapability>', null), 'GetServices'), 'Service');
        assert.equal(services.some((s) => textAt(s, 'Namespace') === 'http://www.onvif.org/ver20/ptz/wsdl'), ptz);
        const only = await tds(stack, 'GetCapabilities', '<tds:Category>PTZ</tds:Category>', null);
        if (ptz) assert.deepEqual(names(child(ok(only, 'GetCapabilities'), 'Capabilities')), ['PTZ']);
        else fault(only, 500, 'ter:ActionNotSupported', 'ter:NoSuchService');
      } finally {
        await stack.close();
      }
    }
  });
});
