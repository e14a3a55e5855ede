// Debian's onvif-util (libonvif): it always starts with a WS-Discovery Probe and takes the
// device address from the XAddrs it gets back, then runs its interactive commands. What it
// printed and which answers the gateway sent decide each operation.
import { spawn } from 'node:child_process';
import { request } from 'undici';
import { ADMIN, answerName, type Interop, type Operation, type OpResult, type RecordedAnswer } from './harness.ts';

function onvifUtil(args: string[], commands: string[], timeoutMs: number): Promise<{ out: string; code: number | null; signal: string | null }> {
  return new Promise((resolve) => {
    const child = spawn('onvif-util', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ out, code, signal });
    });
    // One command at a time, as a person types them.
    let i = 0;
    const next = () => {
      if (i < commands.length) {
        child.stdin.write(`${commands[i++]}\n`);
        setTimeout(next, 300);
      } else child.stdin.end();
    };
    setTimeout(next, 1500);
  });
}

/** The answers to one operation since `mark`, and whether one of them succeeded. */
function answered(env: Interop, mark: number, op: string): { ok: boolean; answers: RecordedAnswer[] } {
  const answers = env.answers.slice(mark).filter((a) => answerName(a.body) === `${op}Response` || (answerName(a.body) === 'Fault' && a.body.includes(op)));
  return { ok: answers.some((a) => a.status === 200 && answerName(a.body) === `${op}Response`), answers };
}

export async function onvifUtilSession(env: Interop): Promise<Partial<Record<Operation, OpResult>>> {
  const results: Partial<Record<Operation, OpResult>> = {
    PullPointEvent: { status: 'n/a', detail: 'onvif-util has no event commands' },
    GetEventProperties: { status: 'n/a', detail: 'onvif-util has no event commands' },
    ReplayedToken: { status: 'n/a', detail: 'onvif-util makes fresh tokens; replays are covered by the other clients' },
    Media2: { status: 'n/a', detail: 'libonvif uses Media (ver10)' },
    HttpDigest: { status: 'n/a', detail: 'libonvif sends a UsernameToken' },
    Soap11: { status: 'n/a', detail: 'libonvif speaks SOAP 1.2' },
  };
  const mark = env.answers.length;
  const session = await onvifUtil(
    ['-u', ADMIN.name, '-p', ADMIN.password, '127.0.0.1'],
    ['get time', 'get capabilities', 'get profiles', 'get rtsp', 'get network', 'get imaging', 'set brightness 35', 'get imaging', 'quit'],
    40_000,
  );
  const out = session.out;
  const faults = env.answers
    .slice(mark)
    .filter((a) => a.status !== 200)
    .map((a) => `${a.status} ${/<[\w:]*Text[^>]*>([^<]*)/.exec(a.body)?.[1] ?? a.body.slice(0, 200)}`);
  const tail = `\n--- onvif-util output (exit ${session.code ?? session.signal}):\n${out.slice(-2500)}${faults.length ? `\n--- faults: ${faults.slice(0, 5).join(' | ')}` : ''}`;
  // onvif-util prints "found host" only for a device whose XAddrs came back to its Probe.
  const found = /found host: 127\.0\.0\.1/.test(out) && !/not found/i.test(out);
  results.Discovery = { status: found ? 'pass' : 'fail', detail: found ? 'found 127.0.0.1 through WS-Discovery' : `not found${tail}` };

  const byAnswer = (op: Operation, name: string, extra: (a: RecordedAnswer[]) => boolean = () => true) => {
    const r = answered(env, mark, name);
    results[op] = r.ok && extra(r.answers) ? { status: 'pass', detail: `${r.answers.length} answer(s)` } : { status: r.answers.length === 0 ? 'fail' : 'fail', detail: `${r.answers.length === 0 ? 'not called' : 'refused'}${tail}` };
  };
  byAnswer('GetSystemDateAndTime', 'GetSystemDateAndTime');
  byAnswer('GetDeviceInformation', 'GetDeviceInformation');
  byAnswer('GetCapabilities', 'GetCapabilities');
  const services = answered(env, mark, 'GetServices');
  results.GetServices = services.answers.length === 0 ? { status: 'n/a', detail: 'libonvif uses GetCapabilities' } : services.ok ? { status: 'pass', detail: 'answered' } : { status: 'fail', detail: `refused${tail}` };
  byAnswer('GetNetworkInterfaces', 'GetNetworkInterfaces');
  byAnswer('GetProfiles', 'GetProfiles');
  const rtsp = /rtsp:\/\/[^\s]+/.exec(out)?.[0];
  results.GetStreamUri = rtsp && answered(env, mark, 'GetStreamUri').ok ? { status: 'pass', detail: rtsp } : { status: 'fail', detail: `no rtsp URI printed${tail}` };
  const snap = answered(env, mark, 'GetSnapshotUri');
  if (snap.ok) {
    const uri = /<tt:Uri>([^<]+)<\/tt:Uri>/.exec(snap.answers.find((a) => a.status === 200)!.body)?.[1] ?? '';
    const res = await request(uri, { headers: { authorization: `Basic ${Buffer.from(`${ADMIN.name}:${ADMIN.password}`).toString('base64')}` } });
    const body = Buffer.from(await res.body.arrayBuffer());
    results.GetSnapshotUri = res.statusCode === 200 && body[0] === 0xff ? { status: 'pass', detail: `${uri}: ${body.length} bytes of JPEG` } : { status: 'fail', detail: `${uri}: HTTP ${res.statusCode}` };
  } else {
    results.GetSnapshotUri = snap.answers.length === 0 ? { status: 'n/a', detail: 'not among onvif-util commands' } : { status: 'fail', detail: `refused${tail}` };
  }
  byAnswer('GetImagingSettings', 'GetImagingSettings');
  const set = answered(env, mark, 'SetImagingSettings');
  const brightnessNow = [...env.answers.slice(mark)].reverse().find((a) => answerName(a.body) === 'GetImagingSettingsResponse')?.body;
  const shows35 = brightnessNow ? /<tt:Brightness>35(\.0+)?<\/tt:Brightness>/.test(brightnessNow) : false;
  results.SetImagingSettings = set.ok && shows35 ? { status: 'pass', detail: 'brightness 35 set and read back' } : { status: 'fail', detail: `set ${set.ok ? 'answered' : 'failed'}, read back ${shows35 ? '35' : 'not 35'}${tail}` };

  // A wrong password: the login (after discovery) must end in ter:NotAuthorized.
  const wrongMark = env.answers.length;
  const wrong = await onvifUtil(['-u', ADMIN.name, '-p', 'not-the-password', '127.0.0.1'], ['get profiles', 'quit'], 30_000);
  const refused = env.answers.slice(wrongMark).filter((a) => answerName(a.body) === 'Fault' && /ter:NotAuthorized/.test(a.body));
  const accepted = env.answers.slice(wrongMark).filter((a) => a.status === 200 && /GetProfilesResponse|GetDeviceInformationResponse/.test(answerName(a.body)));
  results.WrongPassword =
    refused.length > 0 && accepted.length === 0
      ? { status: 'pass', detail: `${refused.length} ter:NotAuthorized fault(s)` }
      : { status: 'fail', detail: `faults ${refused.length}, protected answers ${accepted.length}\n${wrong.out.slice(-1500)}` };
  return results;
}
