// `npm run bench` (first part): the REST figures of issue 7, measured in one run on this machine.
// Every target reads the same upstream, a minimal fast fake camera (bench/fake-camera.ts), so the
// camera is not what limits them; each HTTP scenario interleaves its targets A B C … over ROUNDS
// rounds and stays under 15 s. Scenarios:
//  - codec parse of a 60- and a 2,000-line answer against JSON.parse of the same data;
//  - small config GET (General) and large config GET (Alarm, ~2,000 lines) at 1 and 32
//    connections: direct, bare Node relay, nginx, naive gateway, camgate;
//  - PATCH of one field (setConfig + read-back): direct, naive gateway, camgate;
//  - digest with nonce reuse (the project's client) against a 401 round trip per call;
//  - cold start to the first answer and to /readyz, and RSS, with 1 and with 200 cameras.
// Targets other than the load generator run as child processes, so that their CPU (utime+stime
// from /proc) is measured apart. Results go to bench/RESULTS.md, followed by bench/NOTES.md.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { CLK_TCK, cpuTicks, startChild } from './processes.ts';
import { CameraClient } from '../adapters/cgi/client.ts';
import { parseKeyValue } from '../adapters/cgi/codec.ts';
import { digestAuthorization, parseChallenge } from '../adapters/cgi/digest.ts';
import { NGINX, startNginxProxy } from './nginx-proxy.ts';

const ROUNDS = 3;
const WINDOW_MS = Number(process.env.BENCH_WINDOW_MS ?? 600);
const WARM_MS = Number(process.env.BENCH_WARM_MS ?? 300);
const PASSWORD = 'bench-camera-pass';
const ADMIN = 'Basic ' + Buffer.from('admin:bench-admin').toString('base64');
const GATEWAY_ENV = { PORT: '0', HOST: '127.0.0.1', CAMGATE_ADMIN_PASSWORD: 'bench-admin', LOG_LEVEL: 'warn' };
const LISTENING = /listening on (http:\/\/[^\s]+)/;
const CONFIG = '/cgi-bin/configManager.cgi';
const COLD_START_BUDGET_MS = 15_000;

// ---------- codec ----------

function answerOfLines(n: number): string {
  const lines: string[] = [];
  for (let ch = 0; lines.length < n; ch++) {
    for (let i = 0; i < 20 && lines.length < n; i++) {
      lines.push(`table.VideoWidget[${ch}].Covers[${i}].Rect[${i % 4}]=${1000 + i * 37}`);
      if (lines.length < n) lines.push(`table.VideoWidget[${ch}].Covers[${i}].EncodeBlend=true`);
      if (lines.length < n) lines.push(`table.VideoWidget[${ch}].ChannelTitle.Text=Camera ${ch} = lobby; east`);
    }
  }
  return lines.join('\r\n') + '\r\n';
}

function measure(fn: () => void, minMs = 400): { opsPerSec: number; usPerOp: number } {
  for (let i = 0; i < 50; i++) fn();
  let ops = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < minMs) {
    for (let i = 0; i < 20; i++) fn();
    ops += 20;
    elapsed = performance.now() - start;
  }
  return { opsPerSec: (ops * 1000) / elapsed, usPerOp: (elapsed * 1000) / ops };
}

function codecBench(): string[] {
  const rows = ['| answer | lines | bytes | parse µs | lines/s | MB/s | JSON.parse µs (same data) | ratio |', '|---|---|---|---|---|---|---|---|'];
  for (const n of [60, 2000]) {
    const text = answerOfLines(n);
    const json = JSON.stringify(parseKeyValue(text).doc);
    const p = measure(() => parseKeyValue(text));
    const j = measure(() => JSON.parse(json));
    const bytes = Buffer.byteLength(text);
    rows.push(
      `| ${n}-line | ${n} | ${bytes} | ${p.usPerOp.toFixed(1)} | ${Math.round(n * p.opsPerSec).toLocaleString('en')} | ${((bytes * p.opsPerSec) / 1e6).toFixed(0)} | ${j.usPerOp.toFixed(1)} | ${(p.usPerOp / j.usPerOp).toFixed(2)}× |`,
    );
  }
  return rows;
}

// ---------- HTTP windows ----------

interface Window {
  requests: number;
  reqPerSec: number;
  p50: number;
  p99: number;
  cpuUsPerReq?: number;
  cameraPerCall: number;
}

interface Target {
  name: string;
  call: () => Promise<void>;
  /** The relaying process whose CPU is measured; none for the direct client. */
  pid?: number;
}

let cameraUrl = '';
async function cameraRequests(): Promise<number> {
  return ((await (await fetch(`${cameraUrl}/stats`)).json()) as { requests: number }).requests;
}

async function runWindow(connections: number, t: Target, ms: number): Promise<Window> {
  const latencies: number[] = [];
  const cam0 = await cameraRequests();
  const cpu0 = t.pid ? cpuTicks(t.pid) : 0;
  const start = performance.now();
  const deadline = start + ms;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < deadline) {
        const at = performance.now();
        await t.call();
        latencies.push(performance.now() - at);
      }
    }),
  );
  const elapsed = performance.now() - start;
  const cpu1 = t.pid ? cpuTicks(t.pid) : 0;
  latencies.sort((a, b) => a - b);
  const w: Window = {
    requests: latencies.length,
    reqPerSec: (latencies.length * 1000) / elapsed,
    p50: latencies[Math.floor(latencies.length * 0.5)]!,
    p99: latencies[Math.floor(latencies.length * 0.99)]!,
    cameraPerCall: ((await cameraRequests()) - cam0) / latencies.length,
  };
  if (t.pid) w.cpuUsPerReq = (((cpu1 - cpu0) / CLK_TCK) * 1e6) / latencies.length;
  return w;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const range = (xs: number[], digits: number) => `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;

interface ScenarioResult {
  rows: string[];
  rate: (name: string) => number;
  cpu: (name: string) => number | undefined;
  p50: (name: string) => number;
  perCall: (name: string) => number;
  seconds: number;
}

/** One scenario: every target warmed, then ROUNDS rounds of A B C … windows. */
async function scenario(title: string, connections: number, targets: Target[], ratios: Array<[string, string]>): Promise<ScenarioResult> {
  const started = performance.now();
  for (const t of targets) await runWindow(connections, t, WARM_MS);
  const windows = new Map<string, Window[]>(targets.map((t) => [t.name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const t of targets) windows.get(t.name)!.push(await runWindow(connections, t, WINDOW_MS));
  }
  const seconds = (performance.now() - started) / 1000;
  const rate = (name: string) => median(windows.get(name)!.map((w) => w.reqPerSec));
  const cpu = (name: string) => {
    const ws = windows.get(name)!;
    return ws[0]!.cpuUsPerReq === undefined ? undefined : median(ws.map((w) => w.cpuUsPerReq!));
  };
  const p50 = (name: string) => median(windows.get(name)!.map((w) => w.p50));
  const rows = [`### ${title}, ${connections} connection${connections === 1 ? '' : 's'} (${seconds.toFixed(1)} s)`, '', '| target | req/s (median, range) | p50 ms | p99 ms | relay CPU µs/req (median, range) | camera requests per call |', '|---|---|---|---|---|---|'];
  for (const t of targets) {
    const ws = windows.get(t.name)!;
    const c = cpu(t.name) === undefined ? '—' : `${cpu(t.name)!.toFixed(0)} (${range(ws.map((w) => w.cpuUsPerReq!), 0)})`;
    rows.push(`| ${t.name} | ${rate(t.name).toFixed(0)} (${range(ws.map((w) => w.reqPerSec), 0)}) | ${p50(t.name).toFixed(3)} | ${median(ws.map((w) => w.p99)).toFixed(3)} | ${c} | ${median(ws.map((w) => w.cameraPerCall)).toFixed(2)} |`);
  }
  for (const [a, b] of ratios) {
    if (!windows.has(a) || !windows.has(b)) continue;
    const cpuA = cpu(a);
    const cpuB = cpu(b);
    rows.push(
      `| ${a} / ${b} | ${((rate(a) / rate(b)) * 100).toFixed(0)}% of the throughput | ${p50(a) - p50(b) >= 0 ? '+' : ''}${(p50(a) - p50(b)).toFixed(3)} | | ${cpuA !== undefined && cpuB !== undefined ? `${(cpuA / cpuB).toFixed(2)}× the CPU` : ''} | |`,
    );
  }
  rows.push('');
  process.stdout.write(rows.join('\n') + '\n');
  const perCall = (name: string) => median(windows.get(name)!.map((w) => w.cameraPerCall));
  return { rows, rate, cpu, p50, perCall, seconds };
}

/** A target over HTTP through an undici pool: the gateways and the bare relay. */
function httpTarget(name: string, url: string, path: string, pid: number, opts: { authorization?: string; method?: 'GET' | 'PATCH'; body?: () => string } = {}): Target & { pool: Pool } {
  const pool = new Pool(url, { connections: 32, pipelining: 1 });
  const method = opts.method ?? 'GET';
  const headers: Record<string, string> = opts.authorization ? { authorization: opts.authorization } : {};
  if (opts.body) headers['content-type'] = 'application/json';
  return {
    name,
    pid,
    pool,
    call: async () => {
      const r = await pool.request({ method, path, headers, body: opts.body?.() ?? null });
      await r.body.text();
      if (r.statusCode !== 200) throw new Error(`${name} ${r.statusCode}`);
    },
  };
}

/** A camera read through the project's digest client (nonce reuse), straight or via nginx. */
function clientTarget(name: string, client: CameraClient, table: string, pid?: number): Target {
  return {
    name,
    pid,
    call: async () => {
      const r = await client.request({ path: CONFIG, query: `action=getConfig&name=${table}`, read: true });
      if (r.status !== 200) throw new Error(`${name} ${r.status}`);
    },
  };
}

/** The same read the way most clients do it: an unauthenticated request, its 401, then the signed one. */
function challengePerCallTarget(name: string, base: string, table: string): Target & { pool: Pool } {
  const pool = new Pool(base, { connections: 32, pipelining: 1 });
  const uri = `${CONFIG}?action=getConfig&name=${table}`;
  return {
    name,
    pool,
    call: async () => {
      const first = await pool.request({ method: 'GET', path: uri });
      await first.body.dump();
      const challenge = parseChallenge(first.headers['www-authenticate'] as string | undefined);
      if (!challenge || challenge.scheme !== 'digest') throw new Error(`${name}: no digest challenge`);
      const authorization = digestAuthorization({ challenge, username: 'admin', password: PASSWORD, method: 'GET', uri, nc: 1 });
      const r = await pool.request({ method: 'GET', path: uri, headers: { authorization } });
      await r.body.text();
      if (r.statusCode !== 200) throw new Error(`${name} ${r.statusCode}`);
    },
  };
}

interface Goal {
  goal: string;
  measured: string;
  met: boolean | undefined;
}

async function httpBench(goals: Goal[]): Promise<string[]> {
  const camera = await startChild(['bench/fake-camera.ts'], { FAKE_PASSWORD: PASSWORD }, /(http:\/\/127\.0\.0\.1:\d+)/);
  cameraUrl = camera.match[1]!;
  const withCredentials = cameraUrl.replace('http://', `http://admin:${PASSWORD}@`);
  const gw = await startChild(['gateway/main.ts'], { ...GATEWAY_ENV, CAMERA_URL: withCredentials }, LISTENING);
  const gwUrl = gw.match[1]!;
  // Measure a ready gateway: every validator compiled (it warms them in the background).
  for (let i = 0; i < 600 && (await fetch(`${gwUrl}/readyz`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 100));
  const floor = await startChild(['bench/floor-proxy.ts'], { CAMERA_URL: withCredentials }, LISTENING);
  const naive = await startChild(['bench/naive-gateway.ts'], { CAMERA_URL: withCredentials }, LISTENING);
  // One worker process, so that its CPU per request compares with the gateway's.
  const nginx = await startNginxProxy(cameraUrl, 18000 + Math.floor(Math.random() * 1000));
  const clients: CameraClient[] = [];
  const digestClient = (baseUrl: string) => {
    const c = new CameraClient({ baseUrl, username: 'admin', password: PASSWORD, maxConnections: 32, maxInFlight: 32, queueLimit: 1000 });
    clients.push(c);
    return c;
  };
  const direct = digestClient(cameraUrl);
  const viaNginx = nginx ? digestClient(nginx.url) : undefined;
  const pools: Pool[] = [];
  const http = (...args: Parameters<typeof httpTarget>) => {
    const t = httpTarget(...args);
    pools.push(t.pool);
    return t;
  };
  const gwPid = gw.child.pid!;
  let patchN = 0;
  const patchBody = () => JSON.stringify({ General: { MachineName: `bench-${patchN++ % 1000}` } });

  const rows: string[] = [];
  if (!nginx) rows.push(`nginx is not installed here (${NGINX} missing; apt-get install nginx): its rows are left out.`, '');
  const ratios: Array<[string, string]> = [['camgate', 'direct (fake camera)'], ['camgate', 'nginx proxy (1 worker)'], ['camgate', 'naive gateway'], ['camgate', 'bare Node relay (floor)']];
  const configTargets = (table: string, gwPath: string, naivePath: string, floorPath: string): Target[] => [
    clientTarget('direct (fake camera)', direct, table),
    http('bare Node relay (floor)', floor.match[1]!, floorPath, floor.child.pid!),
    ...(viaNginx && nginx ? [clientTarget('nginx proxy (1 worker)', viaNginx, table, nginx.pid)] : []),
    http('naive gateway', naive.match[1]!, naivePath, naive.child.pid!),
    http('camgate', gwUrl, gwPath, gwPid, { authorization: ADMIN }),
  ];
  try {
    const small = configTargets('General', '/api/v1/cameras/cam1/system/general', '/general', '/');
    const large = configTargets('Alarm', '/api/v1/cameras/cam1/events/alarm', '/alarm', '/alarm');
    rows.push('## Small config GET (General table, 4 lines; GET /api/v1/cameras/cam1/system/general)', '');
    const s1 = await scenario('Small config GET', 1, small, ratios);
    const s32 = await scenario('Small config GET', 32, small, ratios);
    rows.push(...s1.rows, ...s32.rows);
    rows.push(`## Large config GET (Alarm table, ${await lineCount('Alarm')} lines; GET /api/v1/cameras/cam1/events/alarm)`, '');
    const l1 = await scenario('Large config GET', 1, large, ratios);
    const l32 = await scenario('Large config GET', 32, large, ratios);
    rows.push(...l1.rows, ...l32.rows);

    rows.push('## PATCH of one field (General.MachineName: setConfig, then the read-back)', '');
    const patchTargets: Target[] = [
      {
        name: 'direct (fake camera)',
        call: async () => {
          const w = await direct.request({ path: CONFIG, query: `action=setConfig&General.MachineName=bench-${patchN++ % 1000}`, read: false });
          const r = await direct.request({ path: CONFIG, query: 'action=getConfig&name=General', read: true });
          if (w.status !== 200 || r.status !== 200) throw new Error('direct patch');
        },
      },
      http('naive gateway', naive.match[1]!, '/general', naive.child.pid!, { method: 'PATCH', body: patchBody }),
      http('camgate', gwUrl, '/api/v1/cameras/cam1/system/general', gwPid, { authorization: ADMIN, method: 'PATCH', body: patchBody }),
    ];
    const p1 = await scenario('PATCH', 1, patchTargets, ratios);
    rows.push(...p1.rows);

    rows.push('## Digest: nonce reuse (the project\'s client) against a 401 round trip per call, straight to the fake camera', '');
    const perCall = challengePerCallTarget('401 round trip per call', cameraUrl, 'General');
    pools.push(perCall.pool);
    // A client of its own: the 401-per-call windows push its nonces out of the camera's table.
    const digestTargets: Target[] = [clientTarget('nonce reuse (CameraClient)', digestClient(cameraUrl), 'General'), perCall];
    const dRatios: Array<[string, string]> = [['nonce reuse (CameraClient)', '401 round trip per call']];
    const d1 = await scenario('Digest', 1, digestTargets, dRatios);
    const d32 = await scenario('Digest', 32, digestTargets, dRatios);
    rows.push(...d1.rows, ...d32.rows);

    const seconds = [s1, s32, l1, l32, p1, d1, d32].map((s) => s.seconds);
    rows.push(`Scenario durations: ${seconds.map((s) => s.toFixed(1)).join(', ')} s (limit 15 s each).`, '');

    const nginxName = 'nginx proxy (1 worker)';
    const smallCpu = s32.cpu('camgate')!;
    goals.push({ goal: 'small config GET: camgate CPU ≤ 150 µs per request', measured: `${s1.cpu('camgate')!.toFixed(0)} µs at 1 connection, ${smallCpu.toFixed(0)} µs at 32`, met: Math.max(smallCpu, s1.cpu('camgate')!) <= 150 });
    if (nginx) {
      const share = s32.rate('camgate') / s32.rate(nginxName);
      goals.push({ goal: 'small config GET: throughput ≥ 60% of nginx at 32 connections', measured: `${(share * 100).toFixed(0)}%`, met: share >= 0.6 });
    } else goals.push({ goal: 'small config GET: throughput ≥ 60% of nginx at 32 connections', measured: 'nginx not installed', met: undefined });
    const added = s1.p50('camgate') - s1.p50('direct (fake camera)');
    goals.push({ goal: 'small config GET: added p50 ≤ 0.3 ms over direct at 1 connection', measured: `+${added.toFixed(3)} ms`, met: added <= 0.3 });
    const vsNaive = s32.rate('camgate') / s32.rate('naive gateway');
    goals.push({ goal: 'small config GET: ≥ 4× the naive gateway (32 connections)', measured: `${vsNaive.toFixed(2)}× (1 connection: ${(s1.rate('camgate') / s1.rate('naive gateway')).toFixed(2)}×)`, met: vsNaive >= 4 });
    const largeCpu = Math.max(l1.cpu('camgate')!, l32.cpu('camgate')!);
    goals.push({ goal: 'large config GET: ≤ 1 ms CPU per request', measured: `${l1.cpu('camgate')!.toFixed(0)} µs at 1 connection, ${l32.cpu('camgate')!.toFixed(0)} µs at 32 (naive: ${l1.cpu('naive gateway')!.toFixed(0)} / ${l32.cpu('naive gateway')!.toFixed(0)} µs)`, met: largeCpu <= 1000 });
    const trips = [s1, s32, l1, l32].map((s) => s.perCall('camgate'));
    goals.push({
      goal: 'one camera round trip per call',
      measured: `camgate GET: ${Math.max(...trips).toFixed(2)} camera requests per call (naive: ${s1.perCall('naive gateway').toFixed(2)}); PATCH: ${p1.perCall('camgate').toFixed(2)} (the write and its read-back; naive: ${p1.perCall('naive gateway').toFixed(2)}); SSE and MJPEG: see EVENTS-RESULTS.md and MEDIA-RESULTS.md`,
      met: Math.max(...trips) <= 1.01,
    });
  } finally {
    for (const p of pools) await p.close();
    for (const c of clients) await c.close();
    for (const child of [gw.child, floor.child, naive.child]) child.kill('SIGTERM');
    nginx?.stop();
  }
  rows.push(...(await coldStart(goals)));
  if (existsSync(new URL('../adapters/onvif/router.ts', import.meta.url))) {
    try {
      rows.push(...(await onvifBench()));
    } catch (err) {
      rows.push('## ONVIF GetProfiles and PullMessages per second', '', `Not measured: ${err instanceof Error ? err.message : String(err)}`, '');
    }
  } else {
    rows.push('## ONVIF GetProfiles and PullMessages per second', '', 'TODO: adapters/onvif/router.ts does not exist yet; add these scenarios when it does.', '');
  }
  camera.child.kill('SIGTERM');
  return rows;
}

async function lineCount(table: string): Promise<number> {
  const c = new CameraClient({ baseUrl: cameraUrl, username: 'admin', password: PASSWORD });
  const r = await c.request({ path: CONFIG, query: `action=getConfig&name=${table}`, read: true });
  await c.close();
  return r.body.split('\n').filter((l) => l.trim() !== '').length;
}

// ---------- cold start ----------

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

interface Start {
  firstAnswerMs: number;
  readyMs: number;
  rssReady: number;
  rssAfterCalls: number;
}

/** `node --import tsx gateway/main.ts --config FILE` from spawn to the first 200 of a config GET and of /readyz. */
async function coldStartOnce(configFile: string, cameras: number): Promise<Start> {
  const t0 = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', 'gateway/main.ts', '--config', configFile], {
    cwd: new URL('..', import.meta.url),
    env: { ...process.env, ...GATEWAY_ENV },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      const onData = (c: Buffer) => {
        out += c.toString();
        const m = LISTENING.exec(out);
        if (m) resolve(m[1]!);
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', (code) => reject(new Error(`gateway exited ${code}: ${out}`)));
    });
    const get = async (path: string) => {
      const r = await fetch(url + path, { headers: { authorization: ADMIN } });
      await r.arrayBuffer();
      return r.status;
    };
    while ((await get('/api/v1/cameras/cam1/system/general')) !== 200) await new Promise((r) => setTimeout(r, 5));
    const firstAnswerMs = performance.now() - t0;
    while ((await get('/readyz')) !== 200) await new Promise((r) => setTimeout(r, 5));
    const readyMs = performance.now() - t0;
    const rssReady = rssMiB(child.pid!);
    // One call on every camera, so that each holds its connection and nonce.
    for (let i = 1; i <= cameras; i += 20) {
      const batch = Array.from({ length: Math.min(20, cameras - i + 1) }, (_, k) => get(`/api/v1/cameras/cam${i + k}/system/general`));
      if ((await Promise.all(batch)).some((s) => s !== 200)) throw new Error('a camera call failed');
    }
    return { firstAnswerMs, readyMs, rssReady, rssAfterCalls: rssMiB(child.pid!) };
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
}

async function coldStart(goals: Goal[]): Promise<string[]> {
  const dir = mkdtempSync(join(os.tmpdir(), 'camgate-bench-'));
  const files = new Map<number, string>();
  for (const n of [1, 200]) {
    const file = join(dir, `cameras-${n}.yaml`);
    const lines = ['cameras:'];
    for (let i = 1; i <= n; i++) lines.push(`  - { id: cam${i}, url: "${cameraUrl}", username: admin, password: ${PASSWORD} }`);
    writeFileSync(file, lines.join('\n') + '\n');
    files.set(n, file);
  }
  const started = performance.now();
  const runs = new Map<number, Start[]>([[1, []], [200, []]]);
  // Up to ROUNDS rounds within the 15 s a scenario may take; at least one.
  let rounds = 0;
  while (rounds < ROUNDS) {
    for (const n of [1, 200]) runs.get(n)!.push(await coldStartOnce(files.get(n)!, n));
    rounds++;
    const perRound = (performance.now() - started) / rounds;
    if (performance.now() - started + perRound > COLD_START_BUDGET_MS) break;
  }
  const seconds = (performance.now() - started) / 1000;
  const rows = [
    `## Cold start and memory (${rounds} round${rounds === 1 ? '' : 's'} of 1 and 200 cameras interleaved, as many as fit in ${COLD_START_BUDGET_MS / 1000} s; took ${seconds.toFixed(1)} s)`,
    '',
    'From spawning `node --import tsx gateway/main.ts --config FILE` (200 cameras: 200 ids on the one fake camera). RSS after /readyz, and after one config GET on every camera.',
    '',
    '| cameras | first 200 on a config GET, ms (median, range) | /readyz 200, ms | RSS ready, MiB | RSS after a call per camera, MiB |',
    '|---|---|---|---|---|',
  ];
  for (const [n, rs] of runs) {
    const col = (f: (s: Start) => number, d: number) => `${median(rs.map(f)).toFixed(d)} (${range(rs.map(f), d)})`;
    rows.push(`| ${n} | ${col((s) => s.firstAnswerMs, 0)} | ${col((s) => s.readyMs, 0)} | ${col((s) => s.rssReady, 1)} | ${col((s) => s.rssAfterCalls, 1)} |`);
  }
  rows.push('');
  process.stdout.write(rows.join('\n') + '\n');
  const one = runs.get(1)!;
  goals.push({ goal: 'cold start (1 camera): first answer / ready', measured: `${median(one.map((s) => s.firstAnswerMs)).toFixed(0)} ms / ${median(one.map((s) => s.readyMs)).toFixed(0)} ms`, met: undefined });
  return rows;
}

// ---------- ONVIF ----------

/** A SOAP 1.2 envelope with a fresh WS-UsernameToken (PasswordDigest), as ONVIF clients send. */
function soap(body: string, password: string): string {
  const nonce = randomBytes(16);
  const created = new Date().toISOString();
  const digest = createHash('sha1').update(Buffer.concat([nonce, Buffer.from(created), Buffer.from(password)])).digest('base64');
  return `<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:trt="http://www.onvif.org/ver10/media/wsdl" xmlns:tev="http://www.onvif.org/ver10/events/wsdl"><s:Header><wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"><wsse:UsernameToken><wsse:Username>admin</wsse:Username><wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest">${digest}</wsse:Password><wsse:Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-soap-message-security-1.0#Base64Binary">${nonce.toString('base64')}</wsse:Nonce><wsu:Created>${created}</wsu:Created></wsse:UsernameToken></wsse:Security></s:Header><s:Body>${body}</s:Body></s:Envelope>`;
}

/**
 * GetProfiles and PullMessages per second through camgate's ONVIF service, in front of the
 * simulator (the fake camera has only two tables). PullMessages with Timeout PT0S on one pull
 * point: after the first answer (the Initialized states) each pull is an empty answer.
 */
async function onvifBench(): Promise<string[]> {
  const sim = await startChild(['simulator/main.ts'], { SIM_PORT: '0', SIM_PASSWORD: PASSWORD }, /(http:\/\/127\.0\.0\.1:\d+)/);
  const gw = await startChild(['gateway/main.ts'], { ...GATEWAY_ENV, CAMERA_URL: sim.match[1]!.replace('http://', `http://admin:${PASSWORD}@`) }, LISTENING);
  const url = gw.match[1]!;
  const pool = new Pool(url, { connections: 32, pipelining: 1 });
  const post = async (path: string, body: string): Promise<string> => {
    const r = await pool.request({ method: 'POST', path, headers: { 'content-type': 'application/soap+xml; charset=utf-8' }, body: soap(body, 'bench-admin') });
    const text = await r.body.text();
    if (r.statusCode !== 200) throw new Error(`ONVIF ${path} ${r.statusCode}: ${text.slice(0, 300)}`);
    return text;
  };
  try {
    for (let i = 0; i < 600 && (await fetch(`${url}/readyz`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 100));
    const created = await post('/onvif/cam1/event_service', '<tev:CreatePullPointSubscription><tev:InitialTerminationTime>PT600S</tev:InitialTerminationTime></tev:CreatePullPointSubscription>');
    const address = /<wsa:Address>([^<]+)<\/wsa:Address>/.exec(created)?.[1];
    if (!address) throw new Error('no pull point address');
    const pullPath = new URL(address).pathname;
    const targets: Target[] = [
      { name: 'GetProfiles', pid: gw.child.pid!, call: async () => void (await post('/onvif/cam1/media_service', '<trt:GetProfiles/>')) },
      { name: 'PullMessages (PT0S)', pid: gw.child.pid!, call: async () => void (await post(pullPath, '<tev:PullMessages><tev:Timeout>PT0S</tev:Timeout><tev:MessageLimit>10</tev:MessageLimit></tev:PullMessages>')) },
    ];
    const rows = ['## ONVIF GetProfiles and PullMessages per second (camgate in front of the simulator, WS-UsernameToken on every call)', ''];
    // The camera-request column counts the fake camera, which ONVIF does not use here.
    for (const connections of [1, 32]) rows.push(...(await scenario('ONVIF', connections, targets, [])).rows.map((r) => r.replace(/ \| 0\.00 \|$/, ' | — |')));
    return rows;
  } finally {
    await pool.close();
    gw.child.kill('SIGTERM');
    sim.child.kill('SIGTERM');
  }
}

// ---------- main ----------

const load = os.loadavg().map((x) => x.toFixed(2)).join(' / ');
const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
const codec = codecBench();
process.stdout.write(codec.join('\n') + '\n');
const goals: Goal[] = [];
const http = await httpBench(goals);
const loadAfter = os.loadavg().map((x) => x.toFixed(2)).join(' / ');
const header = [
  '# Benchmark results',
  '',
  `Run ${new Date().toISOString()} by \`npm run bench\` on ${cpu}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}.`,
  `Load average (1/5/15 min) ${load} at the start, ${loadAfter} at the end: the machine is shared with other work, so compare the ratios within this run, not with other runs.`,
  `HTTP windows of ${WINDOW_MS} ms after a ${WARM_MS} ms warm-up per target, ${ROUNDS} rounds interleaved; every target is a separate process reading the fast fake camera (bench/fake-camera.ts); gateway LOG_LEVEL=warn.`,
  '',
  '## Goals (issue 7)',
  '',
  '| goal | measured | met |',
  '|---|---|---|',
  ...goals.map((g) => `| ${g.goal} | ${g.measured} | ${g.met === undefined ? '—' : g.met ? 'yes' : '**no**'} |`),
  '',
];
const todo = [
  '## Fan-out',
  '',
  'SSE fan-out to 1,000 clients and MJPEG fan-out to 100 viewers: bench/events.ts and bench/media.ts (EVENTS-RESULTS.md, MEDIA-RESULTS.md), run by the same `npm run bench`.',
  '',
];
let notes = '';
try {
  notes = readFileSync(new URL('./NOTES.md', import.meta.url), 'utf8');
} catch {
  notes = '';
}
writeFileSync(new URL('./RESULTS.md', import.meta.url), [...header, '## Codec: key=value parse', '', ...codec, '', ...http, ...todo, notes].join('\n'));
process.stdout.write('wrote bench/RESULTS.md\n');
