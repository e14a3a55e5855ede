// ONVIF device service (ver10 devicemgmt.wsdl): identity, capabilities, services, reboot and
// factory reset here; the clock (device-clock.ts), network settings (device-network.ts), scopes
// (device-scopes.ts), gateway users (device-users.ts) and relays (deviceio.ts) in their modules.
// Element order follows onvif.xsd; every tt: type is written tt: all the way down (design.md §6).
import { rateLimitUser } from '../../gateway/rate-limit.ts';
import type { CameraEntry } from '../../gateway/cameras.ts';
import { cgiValue, counts, remembered, sharedInFleet } from './camera-facts.ts';
import { clockOperations } from './device-clock.ts';
import { networkOperations } from './device-network.ts';
import { scopeOperations } from './device-scopes.ts';
import { MAX_NAME, MAX_PASSWORD, userOperations } from './device-users.ts';
import { deviceRelayOperations, digitalInputCount, relayCount } from './deviceio.ts';
import { endpointReference } from './identity.ts';
import { invalidArg, NS, OnvifFault } from './soap.ts';
import type { OnvifContext, OnvifOperation, OnvifService, ServiceKey } from './service.ts';
import { children, el, textAt, type XmlChild, type XmlNode, type XmlOut } from './xml.ts';

export { readCameraClock, type CameraClock } from './device-clock.ts';
export { discoveryChanges, discoveryModeOf, scopesOf, type DiscoveryMode } from './device-scopes.ts';

const MAGIC_BOX = '/cgi-bin/magicBox.cgi';

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
            el('tt:WSSubscriptionPolicySupport', true),
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

/** Reboots and resets take a 'reboot' token of the gateway's limiter, shared with REST (a camera needs a minute to come back). */
function takeRebootToken(ctx: OnvifContext): void {
  if (!ctx.rateLimiter || !ctx.principal) return;
  const r = ctx.rateLimiter.take('reboot', rateLimitUser(ctx.principal), ctx.entry.id);
  if (!r.ok) throw new OnvifFault('Receiver', ['ter:Action'], `too many reboots and resets of this camera: retry in ${r.retryAfterSeconds} s`);
}

// ---------------------------------------------------------------------------------------------

const operations: OnvifOperation[] = [
  ...clockOperations,
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
  ...networkOperations,
  ...scopeOperations,
  ...userOperations,
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