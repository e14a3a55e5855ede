// The npm `soap` package as a WSDL-driven client of the official WSDLs: the ONVIF WSDLs declare
// bindings but no wsdl:service, so a small wrapper WSDL (temp file) imports one and names a port
// for its binding; absolute imports are redirected to ../shared/onvif/external; WS-Security
// PasswordDigest; SOAP 1.2; the endpoint is the gateway's XAddr.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import soap from 'soap';
import { request } from 'undici';
import { ADMIN, ONVIF_DIR, type Interop, type Operation, type OpResult } from './harness.ts';

const BINDINGS = {
  device: { wsdl: 'wsdl/ver10/device/wsdl/devicemgmt.wsdl', ns: 'http://www.onvif.org/ver10/device/wsdl', binding: 'DeviceBinding' },
  media: { wsdl: 'wsdl/ver10/media/wsdl/media.wsdl', ns: 'http://www.onvif.org/ver10/media/wsdl', binding: 'MediaBinding' },
  media2: { wsdl: 'wsdl/ver20/media/wsdl/media.wsdl', ns: 'http://www.onvif.org/ver20/media/wsdl', binding: 'Media2Binding' },
  imaging: { wsdl: 'wsdl/ver20/imaging/wsdl/imaging.wsdl', ns: 'http://www.onvif.org/ver20/imaging/wsdl', binding: 'ImagingBinding' },
  events: { wsdl: 'wsdl/ver10/events/wsdl/event.wsdl', ns: 'http://www.onvif.org/ver10/events/wsdl', binding: 'EventBinding' },
  pullpoint: { wsdl: 'wsdl/ver10/events/wsdl/event.wsdl', ns: 'http://www.onvif.org/ver10/events/wsdl', binding: 'PullPointSubscriptionBinding' },
} as const;
type Kind = keyof typeof BINDINGS;

let wrapperDir: string | undefined;

function wrapperWsdl(kind: Kind): string {
  wrapperDir ??= mkdtempSync(join(tmpdir(), 'camgate-soap-wsdl-'));
  const b = BINDINGS[kind];
  const file = join(wrapperDir, `${kind}.wsdl`);
  writeFileSync(
    file,
    `<?xml version="1.0" encoding="UTF-8"?>
<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/" xmlns:svc="${b.ns}" targetNamespace="urn:camgate:interop:${kind}">
  <wsdl:import namespace="${b.ns}" location="${join(ONVIF_DIR, b.wsdl)}"/>
  <wsdl:service name="Service"><wsdl:port name="Port" binding="svc:${b.binding}"><soap12:address location="http://127.0.0.1/"/></wsdl:port></wsdl:service>
</wsdl:definitions>
`,
  );
  return file;
}

/** http(s)://HOST/PATH → ONVIF_DIR/external/HOST/PATH; the SOAP 1.2 envelope → the stub. */
function localImport(location: string): string {
  const m = /^https?:\/\/([^/]+)(\/.*)$/.exec(location);
  if (!m) return location;
  if (m[1] === 'www.w3.org' && m[2] === '/2003/05/soap-envelope') return join(ONVIF_DIR, 'stubs/soap12-envelope-stub.xsd');
  return join(ONVIF_DIR, 'external', m[1]!, m[2]!.slice(1));
}

type Method = (args: unknown, options?: unknown) => Promise<[Record<string, unknown>, string, unknown, string]>;
type SoapClient = Record<string, unknown> & { setSecurity(s: unknown): void };

const cache = new Map<string, Promise<SoapClient>>();

async function client(kind: Kind, endpoint: string, security?: unknown, soap12 = true): Promise<Record<string, Method>> {
  const key = `${kind}:${soap12}`;
  const base = await (cache.get(key) ??
    cache
      .set(
        key,
        soap.createClientAsync(wrapperWsdl(kind), {
          forceSoap12Headers: soap12,
          wsdl_options: { overrideImportLocation: (location: string) => (location.startsWith('file:') ? new URL(location).pathname : localImport(location)) },
        }) as unknown as Promise<SoapClient>,
      )
      .get(key)!);
  // Clients share the parsed WSDL; endpoint and security are per use.
  const c = Object.create(base) as SoapClient & { setEndpoint(e: string): void };
  c.setEndpoint(endpoint);
  if (security) c.setSecurity(security);
  return c as unknown as Record<string, Method>;
}

function wsse(password = ADMIN.password): unknown {
  return new soap.WSSecurity(ADMIN.name, password, { passwordType: 'PasswordDigest', hasTimeStamp: false, mustUnderstand: true });
}

/** GET with HTTP Digest (MD5, qop=auth), as a VMS fetches a snapshot URI. */
async function digestGet(url: string, user: string, password: string): Promise<{ status: number; type: string; body: Buffer }> {
  const first = await request(url);
  await first.body.dump();
  const challenge = String(first.headers['www-authenticate'] ?? '');
  if (first.statusCode !== 401 || !/^Digest /i.test(challenge)) return { status: first.statusCode, type: '', body: Buffer.alloc(0) };
  const param = (k: string) => new RegExp(`${k}="?([^",]+)"?`, 'i').exec(challenge)?.[1] ?? '';
  const { pathname, search } = new URL(url);
  const uri = pathname + search;
  const md5 = (s: string) => createHash('md5').update(s).digest('hex');
  const cnonce = randomBytes(8).toString('hex');
  const ha1 = md5(`${user}:${param('realm')}:${password}`);
  const ha2 = md5(`GET:${uri}`);
  const response = md5(`${ha1}:${param('nonce')}:00000001:${cnonce}:auth:${ha2}`);
  const auth = `Digest username="${user}", realm="${param('realm')}", nonce="${param('nonce')}", uri="${uri}", qop=auth, nc=00000001, cnonce="${cnonce}", response="${response}"${param('opaque') ? `, opaque="${param('opaque')}"` : ''}`;
  const res = await request(url, { headers: { authorization: auth } });
  return { status: res.statusCode, type: String(res.headers['content-type'] ?? ''), body: Buffer.from(await res.body.arrayBuffer()) };
}

const asArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

function faultText(e: unknown): string {
  const err = e as { message?: string; body?: string; response?: { data?: string } };
  return `${err.message ?? String(e)} ${typeof err.body === 'string' ? err.body.slice(0, 800) : ''}`;
}

export async function soapNpmSession(env: Interop): Promise<Partial<Record<Operation, OpResult>>> {
  const results: Partial<Record<Operation, OpResult>> = {
    Discovery: { status: 'n/a', detail: 'the soap package has no WS-Discovery client' },
    HttpDigest: { status: 'n/a', detail: 'the soap package has no HTTP Digest security' },
  };

  const step = async (op: Operation, fn: () => Promise<OpResult>) => {
    try {
      results[op] = await fn();
    } catch (e) {
      results[op] = { status: 'fail', detail: faultText(e) };
    }
  };
  const xaddrs = new Map<string, string>();
  const services = new Map<string, string>();
  const dev = () => client('device', env.deviceXAddr, wsse());

  await step('GetSystemDateAndTime', async () => {
    const [r] = await (await client('device', env.deviceXAddr)).GetSystemDateAndTimeAsync!({});
    const u = (r.SystemDateAndTime as { UTCDateTime?: { Date: Record<string, string>; Time: Record<string, string> } }).UTCDateTime;
    if (!u) return { status: 'fail', detail: 'no UTCDateTime' };
    const t = Date.UTC(+u.Date.Year!, +u.Date.Month! - 1, +u.Date.Day!, +u.Time.Hour!, +u.Time.Minute!, +u.Time.Second!);
    const skew = Math.abs(t - Date.now()) / 1000;
    return { status: skew < 300 ? 'pass' : 'fail', detail: `UTC ${new Date(t).toISOString()}, skew ${Math.round(skew)} s` };
  });
  await step('GetDeviceInformation', async () => {
    const [r] = await (await dev()).GetDeviceInformationAsync!({});
    const ok = ['Manufacturer', 'Model', 'FirmwareVersion', 'SerialNumber', 'HardwareId'].every((k) => typeof r[k] === 'string' && (r[k] as string).length > 0);
    return { status: ok ? 'pass' : 'fail', detail: JSON.stringify(r) };
  });
  await step('GetCapabilities', async () => {
    const [r] = await (await dev()).GetCapabilitiesAsync!({ Category: 'All' });
    const caps = r.Capabilities as Record<string, { XAddr?: string }>;
    for (const k of ['Media', 'Imaging', 'Events']) if (caps[k]?.XAddr) xaddrs.set(k, caps[k]!.XAddr!);
    return { status: xaddrs.has('Media') && xaddrs.has('Events') ? 'pass' : 'fail', detail: JSON.stringify(Object.fromEntries(xaddrs)) };
  });
  await step('GetServices', async () => {
    const [r] = await (await dev()).GetServicesAsync!({ IncludeCapability: false });
    const list = asArray(r.Service as { Namespace: string; XAddr: string } | Array<{ Namespace: string; XAddr: string }>);
    for (const s of list) services.set(s.Namespace, s.XAddr);
    const ok = ['http://www.onvif.org/ver10/media/wsdl', 'http://www.onvif.org/ver20/imaging/wsdl'].every((ns) => list.some((s) => s.Namespace === ns));
    return { status: ok ? 'pass' : 'fail', detail: list.map((s) => `${s.Namespace} ${s.XAddr}`).join('; ') };
  });
  await step('GetNetworkInterfaces', async () => {
    const [r] = await (await dev()).GetNetworkInterfacesAsync!({});
    const hw = asArray(r.NetworkInterfaces as { Info?: { HwAddress?: string } } | Array<{ Info?: { HwAddress?: string } }>).map((i) => i.Info?.HwAddress ?? '');
    return { status: hw.length > 0 && hw.every((h) => /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(h)) ? 'pass' : 'fail', detail: hw.join(' ') };
  });

  const media = () => client('media', xaddrs.get('Media') ?? `${env.origin}/onvif/cam1/media_service`, wsse());
  let profileToken = '';
  let sourceToken = '';
  await step('GetProfiles', async () => {
    const [r] = await (await media()).GetProfilesAsync!({});
    const profiles = asArray(r.Profiles as Record<string, unknown> | Array<Record<string, unknown>>);
    const first = profiles[0] as { attributes?: { token?: string }; VideoSourceConfiguration?: { SourceToken?: string }; VideoEncoderConfiguration?: { Encoding?: string } } | undefined;
    profileToken = first?.attributes?.token ?? '';
    sourceToken = first?.VideoSourceConfiguration?.SourceToken ?? '';
    return { status: profileToken && sourceToken ? 'pass' : 'fail', detail: `${profiles.length} profiles, first ${profileToken} (${first?.VideoEncoderConfiguration?.Encoding}), source ${sourceToken}` };
  });
  await step('GetStreamUri', async () => {
    const [r] = await (await media()).GetStreamUriAsync!({ StreamSetup: { Stream: 'RTP-Unicast', Transport: { Protocol: 'RTSP' } }, ProfileToken: profileToken });
    const uri = (r.MediaUri as { Uri?: string }).Uri ?? '';
    return { status: /^rtsp:\/\/[^@/]+\//.test(uri) ? 'pass' : 'fail', detail: uri };
  });
  await step('Media2', async () => {
    const m2 = await client('media2', services.get('http://www.onvif.org/ver20/media/wsdl') ?? `${env.origin}/onvif/cam1/media2_service`, wsse());
    const [r] = await m2.GetProfilesAsync!({ Type: ['All'] });
    const profiles = asArray(r.Profiles as Record<string, unknown> | Array<Record<string, unknown>>) as Array<{ attributes?: { token?: string }; Configurations?: { VideoEncoder?: { Encoding?: string } } }>;
    const token = profiles[0]?.attributes?.token ?? '';
    const [u] = await m2.GetStreamUriAsync!({ Protocol: 'RtspUnicast', ProfileToken: token });
    const uri = String(u.Uri ?? '');
    const ok = profiles.length > 0 && profiles.some((p) => p.Configurations?.VideoEncoder?.Encoding === 'H264') && uri.startsWith('rtsp://');
    return { status: ok ? 'pass' : 'fail', detail: `GetProfiles ${profiles.map((p) => p.attributes?.token).join(',')}, GetStreamUri ${uri}` };
  });
  await step('GetSnapshotUri', async () => {
    const [r] = await (await media()).GetSnapshotUriAsync!({ ProfileToken: profileToken });
    const uri = (r.MediaUri as { Uri?: string }).Uri ?? '';
    const got = await digestGet(uri, ADMIN.name, ADMIN.password);
    const ok = got.status === 200 && got.body[0] === 0xff && got.body[1] === 0xd8;
    return { status: ok ? 'pass' : 'fail', detail: `${uri} -> HTTP ${got.status} ${got.type}, ${got.body.length} bytes (Digest)` };
  });

  const imaging = () => client('imaging', xaddrs.get('Imaging') ?? `${env.origin}/onvif/cam1/imaging_service`, wsse());
  let brightness: number | undefined;
  await step('GetImagingSettings', async () => {
    const [r] = await (await imaging()).GetImagingSettingsAsync!({ VideoSourceToken: sourceToken });
    const s = r.ImagingSettings as { Brightness?: string | number } | undefined;
    brightness = s?.Brightness === undefined ? undefined : Number(s.Brightness);
    return { status: brightness !== undefined && Number.isFinite(brightness) ? 'pass' : 'fail', detail: JSON.stringify(s).slice(0, 300) };
  });
  await step('SetImagingSettings', async () => {
    const target = brightness === 55 ? 45 : 55;
    await (await imaging()).SetImagingSettingsAsync!({ VideoSourceToken: sourceToken, ImagingSettings: { Brightness: target }, ForcePersistence: true });
    const [r] = await (await imaging()).GetImagingSettingsAsync!({ VideoSourceToken: sourceToken });
    const after = Number((r.ImagingSettings as { Brightness?: string }).Brightness);
    return { status: after === target ? 'pass' : 'fail', detail: `brightness ${brightness} -> ${after} (asked ${target})` };
  });

  await step('GetEventProperties', async () => {
    const events = await client('events', xaddrs.get('Events') ?? `${env.origin}/onvif/cam1/events_service`, wsse());
    const [r, raw] = await events.GetEventPropertiesAsync!({});
    const ok = r.FixedTopicSet !== undefined && /MotionAlarm/.test(raw);
    return { status: ok ? 'pass' : 'fail', detail: `FixedTopicSet ${String(r.FixedTopicSet)}, dialects ${JSON.stringify(r.TopicExpressionDialect)}` };
  });
  await step('PullPointEvent', async () => {
    const events = await client('events', xaddrs.get('Events') ?? `${env.origin}/onvif/cam1/events_service`, wsse());
    const [sub] = await events.CreatePullPointSubscriptionAsync!({ InitialTerminationTime: 'PT60S' });
    const ref = sub.SubscriptionReference as { Address?: string | { $value?: string } };
    const address = typeof ref.Address === 'string' ? ref.Address : (ref.Address?.$value ?? '');
    const pull = await client('pullpoint', address, wsse());
    await pull.PullMessagesAsync!({ Timeout: 'PT1S', MessageLimit: 50 });
    const raisedAt = Date.now();
    env.sim.raiseEvent('VideoMotion', 'Start', 0);
    let got: number | undefined;
    const seen: string[] = [];
    while (got === undefined && Date.now() - raisedAt < 5000) {
      const [, raw] = await pull.PullMessagesAsync!({ Timeout: 'PT2S', MessageLimit: 50 });
      for (const m of raw.split(/NotificationMessage>/).filter((x) => /Topic/.test(x))) {
        const topic = /Topic[^>]*>([^<]*)</.exec(m)?.[1] ?? '';
        seen.push(topic);
        if ((/MotionAlarm$/.test(topic) && /Name="State"\s+Value="true"/.test(m)) || (/CellMotionDetector\/Motion$/.test(topic) && /Name="IsMotion"\s+Value="true"/.test(m))) got = Date.now() - raisedAt;
      }
    }
    await pull.UnsubscribeAsync!({}).catch(() => undefined);
    env.sim.raiseEvent('VideoMotion', 'Stop', 0);
    return { status: got !== undefined && got < 2000 ? 'pass' : 'fail', detail: `motion after ${got ?? '—'} ms; topics ${seen.slice(0, 8).join(' ')}` };
  });

  await step('Soap11', async () => {
    // The same WSDL binding sent as SOAP 1.1 (text/xml): the answer must be SOAP 1.1 too.
    const c = await client('device', env.deviceXAddr, wsse(), false);
    const [r, raw] = await c.GetDeviceInformationAsync!({});
    const ok = typeof r.Model === 'string' && raw.includes('http://schemas.xmlsoap.org/soap/envelope/') && !raw.includes('http://www.w3.org/2003/05/soap-envelope');
    return { status: ok ? 'pass' : 'fail', detail: `GetDeviceInformation over SOAP 1.1: ${r.Model}; ${raw.slice(0, 160)}` };
  });
  await step('WrongPassword', async () => {
    try {
      await (await client('device', env.deviceXAddr, wsse('not-the-password'))).GetDeviceInformationAsync!({});
      return { status: 'fail', detail: 'answered without a fault' };
    } catch (e) {
      const text = faultText(e);
      return { status: /NotAuthorized/.test(text) ? 'pass' : 'fail', detail: text.slice(0, 400) };
    }
  });
  await step('ReplayedToken', async () => {
    const security = wsse() as { toXML(): string };
    const header = security.toXML();
    security.toXML = () => header;
    const c = await client('device', env.deviceXAddr, security);
    await c.GetDeviceInformationAsync!({});
    try {
      await c.GetDeviceInformationAsync!({});
      return { status: 'fail', detail: 'the same nonce and Created were accepted twice' };
    } catch (e) {
      const text = faultText(e);
      return { status: /NotAuthorized/.test(text) ? 'pass' : 'fail', detail: `second use: ${text.slice(0, 400)}` };
    }
  });
  return results;
}
