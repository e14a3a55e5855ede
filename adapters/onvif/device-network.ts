// ONVIF device network operations over the camera's Network, NTP and RTSP tables: hostname,
// DNS, NTP server, interfaces (with a hardware address distinct across the fleet), protocols and
// the default gateway. The camera has one DHCP switch per interface and one NTP server.
import { isIPv4, isIPv6 } from 'node:net';
import type { CameraEntry } from '../../gateway/cameras.ts';
import { parseKeyValue, type CgiNode } from '../cgi/codec.ts';
import { bool, int, list, obj, remembered, sharedInFleet, str } from './camera-facts.ts';
import { derivedHwAddress } from './identity.ts';
import { invalidArg } from './soap.ts';
import type { OnvifContext, OnvifOperation } from './service.ts';
import { children, el, opt, textAt, type XmlNode, type XmlOut } from './xml.ts';

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

export const networkOperations: readonly OnvifOperation[] = [
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
];
