// The npm `onvif` library (the one inside UniFi Protect): WS-Discovery probe, connect (which
// reads the clock, services and profiles as the library does), then the scripted operations
// through its own API, its event loop for a motion event, a wrong password and a replayed token.
import { createRequire } from 'node:module';
import { request } from 'undici';
import { endpointReference } from '../../adapters/onvif/identity.ts';
import { ADMIN, CAMERA_ID, type Interop, type Operation, type OpResult } from './harness.ts';

type Callback = (err: Error | null, data: unknown, xml?: string) => void;
interface CamLike {
  [method: string]: unknown;
  on(event: string, listener: (...args: unknown[]) => void): void;
  removeAllListeners(event: string): void;
  _passwordDigest(): { passdigest: string; nonce: string; timestamp: string };
}
interface OnvifModule {
  Cam: new (options: Record<string, unknown>, cb?: Callback) => CamLike;
  Discovery: { probe(options: Record<string, unknown>, cb: (err: Error | null, cams: unknown[]) => void): void };
}

const onvif = createRequire(import.meta.url)('onvif') as OnvifModule;

function call<T = unknown>(cam: CamLike, method: string, ...args: unknown[]): Promise<{ data: T; xml: string | undefined }> {
  return new Promise((resolve, reject) => {
    (cam[method] as (...a: unknown[]) => void).call(cam, ...args, (err: Error | null, data: unknown, xml?: string) =>
      err ? reject(Object.assign(err, { xml })) : resolve({ data: data as T, xml }),
    );
  });
}

const errText = (e: unknown) => `${(e as Error).message}${(e as { xml?: string }).xml ? ` ${(e as { xml?: string }).xml!.slice(0, 600)}` : ''}`;

export async function onvifNpmSession(env: Interop): Promise<Partial<Record<Operation, OpResult>>> {
  const results: Partial<Record<Operation, OpResult>> = { Soap11: { status: 'n/a', detail: 'the library speaks SOAP 1.2 only' } };
  const step = async (op: Operation, fn: () => Promise<OpResult>) => {
    try {
      results[op] = await fn();
    } catch (e) {
      results[op] = { status: 'fail', detail: errText(e) };
    }
  };
  const { hostname, port } = new URL(env.origin);
  const options = { hostname, port: Number(port), path: `/onvif/${CAMERA_ID}/device_service`, username: ADMIN.name, password: ADMIN.password, timeout: 15_000, autoconnect: false };

  await step('Discovery', async () => {
    const found = await new Promise<unknown[]>((resolve, reject) => onvif.Discovery.probe({ timeout: 2500, resolve: false }, (err, cams) => (err ? reject(err) : resolve(cams))));
    const match = found
      .map((d) => (d as { probeMatches?: { probeMatch?: { endpointReference?: { address?: string }; XAddrs?: string } } }).probeMatches?.probeMatch)
      .find((m) => m?.endpointReference?.address === endpointReference(CAMERA_ID));
    const ok = match?.XAddrs?.split(' ').includes(env.deviceXAddr) ?? false;
    return { status: ok ? 'pass' : 'fail', detail: `${found.length} device(s); ${match ? `XAddrs ${match.XAddrs}` : 'the camera was not among them'}` };
  });

  const cam = new onvif.Cam(options);
  await step('GetSystemDateAndTime', async () => {
    const { data } = await call<Date>(cam, 'getSystemDateAndTime');
    const skew = Math.abs(data.getTime() - Date.now()) / 1000;
    return { status: skew < 300 ? 'pass' : 'fail', detail: `${data.toISOString()}, skew ${Math.round(skew)} s (the library signs its tokens with this clock)` };
  });
  let connected = false;
  try {
    await call(cam, 'connect');
    connected = true;
  } catch (e) {
    results.GetProfiles = { status: 'fail', detail: `connect (GetSystemDateAndTime, GetServices, GetProfiles, GetVideoSources) failed: ${errText(e)}` };
  }

  await step('GetDeviceInformation', async () => {
    const { data } = await call<Record<string, string>>(cam, 'getDeviceInformation');
    const ok = Boolean(data.manufacturer && data.model && data.serialNumber && data.firmwareVersion);
    return { status: ok ? 'pass' : 'fail', detail: JSON.stringify(data) };
  });
  await step('GetCapabilities', async () => {
    const { data } = await call<Record<string, { XAddr?: string }>>(cam, 'getCapabilities');
    const ok = Boolean(data.media?.XAddr && data.events?.XAddr);
    return { status: ok ? 'pass' : 'fail', detail: `media ${data.media?.XAddr} events ${data.events?.XAddr} imaging ${data.imaging?.XAddr}` };
  });
  await step('GetServices', async () => {
    const { data } = await call<Array<{ namespace: string; XAddr: string }>>(cam, 'getServices', true);
    const list = Array.isArray(data) ? data : [];
    const ok = ['http://www.onvif.org/ver10/media/wsdl', 'http://www.onvif.org/ver10/events/wsdl'].every((ns) => list.some((s) => s.namespace === ns));
    return { status: ok ? 'pass' : 'fail', detail: list.map((s) => s.namespace).join(' ') };
  });
  await step('GetNetworkInterfaces', async () => {
    const { data } = await call<unknown>(cam, 'getNetworkInterfaces');
    const text = JSON.stringify(data);
    const ok = /hwAddress":"([0-9a-f]{2}:){5}[0-9a-f]{2}"/i.test(text);
    return { status: ok ? 'pass' : 'fail', detail: text.slice(0, 400) };
  });

  let profileToken: string | undefined;
  let sourceToken: string | undefined;
  if (connected) {
    await step('GetProfiles', async () => {
      const { data } = await call<Array<Record<string, unknown>>>(cam, 'getProfiles');
      const first = data[0] as { $?: { token?: string }; token?: string; videoSourceConfiguration?: { sourceToken?: string }; configurations?: { videoSource?: { sourceToken?: string } } } | undefined;
      profileToken = first?.$?.token ?? first?.token;
      sourceToken = first?.videoSourceConfiguration?.sourceToken ?? first?.configurations?.videoSource?.sourceToken;
      const media2 = Boolean((cam as unknown as { media2Support?: boolean }).media2Support);
      return { status: data.length > 0 && profileToken ? 'pass' : 'fail', detail: `${data.length} profiles via ${media2 ? 'Media2' : 'Media'}; first ${profileToken}, source ${sourceToken}` };
    });
  }
  await step('GetStreamUri', async () => {
    const { data } = await call<{ uri: string }>(cam, 'getStreamUri', { protocol: 'RTSP', profileToken });
    const ok = /^rtsp:\/\/[^@/]+\//.test(data.uri);
    return { status: ok ? 'pass' : 'fail', detail: data.uri };
  });
  const media2 = Boolean((cam as unknown as { media2Support?: boolean }).media2Support);
  results.Media2 =
    media2 && results.GetProfiles?.status === 'pass'
      ? { status: 'pass', detail: 'the library chose Media2 (GetServices) for GetProfiles and GetStreamUri' }
      : { status: 'fail', detail: `media2Support ${media2}; GetProfiles ${results.GetProfiles?.status}` };
  await step('GetSnapshotUri', async () => {
    const { data } = await call<{ uri: string }>(cam, 'getSnapshotUri', { profileToken });
    const basic = `Basic ${Buffer.from(`${ADMIN.name}:${ADMIN.password}`).toString('base64')}`;
    const res = await request(data.uri, { headers: { authorization: basic } });
    const body = Buffer.from(await res.body.arrayBuffer());
    const ok = res.statusCode === 200 && body[0] === 0xff && body[1] === 0xd8;
    return { status: ok ? 'pass' : 'fail', detail: `${data.uri} -> HTTP ${res.statusCode} ${res.headers['content-type']}, ${body.length} bytes (Basic)` };
  });
  await step('GetImagingSettings', async () => {
    const { data } = await call<{ brightness?: number }>(cam, 'getImagingSettings', { token: sourceToken });
    return { status: typeof data.brightness === 'number' ? 'pass' : 'fail', detail: JSON.stringify(data).slice(0, 300) };
  });
  await step('SetImagingSettings', async () => {
    const before = (await call<{ brightness?: number }>(cam, 'getImagingSettings', { token: sourceToken })).data.brightness;
    const target = before === 70 ? 30 : 70;
    await call(cam, 'setImagingSettings', { token: sourceToken, brightness: target });
    const after = (await call<{ brightness?: number }>(cam, 'getImagingSettings', { token: sourceToken })).data.brightness;
    return { status: after === target ? 'pass' : 'fail', detail: `brightness ${before} -> ${after} (asked ${target})` };
  });

  await step('GetEventProperties', async () => {
    const { data, xml } = await call<Record<string, unknown>>(cam, 'getEventProperties');
    const ok = Boolean(data.topicSet) && /MotionAlarm/.test(xml ?? '');
    return { status: ok ? 'pass' : 'fail', detail: `topic set ${ok ? 'with' : 'without'} MotionAlarm; ${Object.keys(data).join(', ')}` };
  });
  await step('PullPointEvent', async () => {
    const seen: string[] = [];
    let raisedAt = 0;
    const got = await new Promise<number | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), 6_000);
      cam.on('eventsError', (e) => seen.push(`error: ${(e as Error).message}`));
      cam.on('event', (message) => {
        const m = message as { topic?: { _?: string }; message?: { message?: { data?: { simpleItem?: unknown } } } };
        const topic = m.topic?._ ?? '';
        const items = JSON.stringify(m.message?.message?.data?.simpleItem ?? '');
        seen.push(`${topic} ${items}`);
        const motion = (/MotionAlarm$/.test(topic) && /"State","value":true|"value":true,"name":"State"/.test(items)) || (/CellMotionDetector\/Motion$/.test(topic) && /IsMotion/.test(items) && /true/.test(items));
        if (raisedAt && motion) {
          clearTimeout(timer);
          resolve(Date.now() - raisedAt);
        }
      });
      // The library creates its pull point on the first listener; raise once it is pulling.
      setTimeout(() => {
        raisedAt = Date.now();
        env.sim.raiseEvent('VideoMotion', 'Start', 0);
      }, 1_000);
    });
    cam.removeAllListeners('event');
    env.sim.raiseEvent('VideoMotion', 'Stop', 0);
    return { status: got !== undefined && got < 2000 ? 'pass' : 'fail', detail: `motion after ${got ?? '—'} ms; messages: ${seen.slice(0, 6).join(' | ')}` };
  });

  await step('HttpDigest', async () => {
    // Without WS-Security the library answers the gateway's 401 Digest challenge.
    const digest = new onvif.Cam({ ...options, useWSSecurity: false });
    await call(digest, 'getSystemDateAndTime');
    const { data } = await call<Record<string, string>>(digest, 'getDeviceInformation');
    return { status: data.model ? 'pass' : 'fail', detail: `GetDeviceInformation over HTTP Digest: ${data.manufacturer} ${data.model}` };
  });

  await step('WrongPassword', async () => {
    const wrong = new onvif.Cam({ ...options, password: 'not-the-password' });
    // Synchronised first (as connect() does), so that only the password is wrong.
    await call(wrong, 'getSystemDateAndTime');
    try {
      await call(wrong, 'getDeviceInformation');
      return { status: 'fail', detail: 'answered without a fault' };
    } catch (e) {
      const text = errText(e);
      return { status: /NotAuthorized/.test(text) && !/Created/.test(text) ? 'pass' : 'fail', detail: text.slice(0, 400) };
    }
  });
  await step('ReplayedToken', async () => {
    const replay = new onvif.Cam(options);
    // The library signs with the device clock: read it first, as connect() does.
    await call(replay, 'getSystemDateAndTime');
    const token = replay._passwordDigest();
    replay._passwordDigest = () => token;
    await call(replay, 'getDeviceInformation');
    try {
      await call(replay, 'getDeviceInformation');
      return { status: 'fail', detail: 'the same nonce and Created were accepted twice' };
    } catch (e) {
      const text = errText(e);
      return { status: /NotAuthorized/.test(text) ? 'pass' : 'fail', detail: `second use: ${text.slice(0, 400)}` };
    }
  });
  return results;
}

/** Connects as the library does (it signs with the device's clock) and reads the device information. */
export async function onvifNpmLogin(env: Interop): Promise<string> {
  const { hostname, port } = new URL(env.origin);
  const cam = new onvif.Cam({ hostname, port: Number(port), path: `/onvif/${CAMERA_ID}/device_service`, username: ADMIN.name, password: ADMIN.password, timeout: 15_000, autoconnect: false });
  await call(cam, 'connect');
  const { data } = await call<Record<string, string>>(cam, 'getDeviceInformation');
  return `${data.manufacturer} ${data.model}`;
}
