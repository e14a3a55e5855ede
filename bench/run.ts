// `npm run bench`: the foundation's figures, measured in one run on this machine.
//  1. codec parse throughput for a 60-line and a 2,000-line answer, against JSON.parse of the same data;
//  2. a config GET through the gateway vs the same request straight to the simulator, interleaved
//     A B A B over 3 rounds: req/s, p50/p99 latency, gateway CPU µs per request.
// A bare Node relay (bench/floor-proxy.ts) is the floor a Node gateway cannot go under here.
// The simulator and the gateway run as child processes so that their CPU is measured apart from
// the load generator. Results go to bench/RESULTS.md.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { CameraClient } from '../adapters/cgi/client.ts';
import { parseKeyValue } from '../adapters/cgi/codec.ts';
import { startNginxProxy } from './nginx-proxy.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ROUNDS = 3;
const WINDOW_MS = Number(process.env.BENCH_WINDOW_MS ?? 2_500);
const CLK_TCK = 100; // Linux USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s

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

// ---------- HTTP ----------

function startChild(args: string[], env: Record<string, string>, ready: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')} did not start: ${out}`)), 20_000);
    const onData = (c: Buffer) => {
      out += c.toString();
      const m = ready.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, match: m });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}: ${out}`)));
  });
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

interface Window {
  requests: number;
  reqPerSec: number;
  p50: number;
  p99: number;
  cpuUsPerReq?: number;
}

async function runWindow(connections: number, call: () => Promise<void>, pid?: number): Promise<Window> {
  const latencies: number[] = [];
  const cpu0 = pid ? cpuTicks(pid) : 0;
  const start = performance.now();
  const deadline = start + WINDOW_MS;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < deadline) {
        const t = performance.now();
        await call();
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = performance.now() - start;
  latencies.sort((a, b) => a - b);
  const w: Window = {
    requests: latencies.length,
    reqPerSec: (latencies.length * 1000) / elapsed,
    p50: latencies[Math.floor(latencies.length * 0.5)]!,
    p99: latencies[Math.floor(latencies.length * 0.99)]!,
  };
  if (pid) w.cpuUsPerReq = (((cpuTicks(pid) - cpu0) / CLK_TCK) * 1e6) / latencies.length;
  return w;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const range = (xs: number[], digits: number) => `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;

async function httpBench(): Promise<string[]> {
  const password = 'bench-camera-pass';
  const sim = await startChild(['simulator/main.ts'], { SIM_PORT: '0', SIM_PASSWORD: password }, /(http:\/\/127\.0\.0\.1:\d+)/);
  const simUrl = sim.match[1]!;
  const gw = await startChild(
    ['gateway/main.ts'],
    {
      PORT: '0',
      HOST: '127.0.0.1',
      CAMERA_URL: simUrl.replace('http://', `http://admin:${password}@`),
      CAMGATE_ADMIN_PASSWORD: 'bench-admin',
      LOG_LEVEL: 'warn',
    },
    /listening on (http:\/\/[^\s]+)/,
  );
  const gwUrl = gw.match[1]!;
  // Measure a ready gateway: every validator compiled (it warms them in the background).
  for (let i = 0; i < 600 && (await fetch(`${gwUrl}/readyz`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 100));
  const floor = await startChild(['bench/floor-proxy.ts'], { CAMERA_URL: simUrl.replace('http://', `http://admin:${password}@`) }, /listening on (http:\/\/[^\s]+)/);
  const floorUrl = floor.match[1]!;
  // One worker process, so its CPU per request is comparable with the gateway's.
  const nginx = await startNginxProxy(simUrl, 18000 + Math.floor(Math.random() * 1000));
  const rows: string[] = [];
  try {
    const direct = new CameraClient({ baseUrl: simUrl, username: 'admin', password, maxConnections: 32, maxInFlight: 32, queueLimit: 1000 });
    const pool = new Pool(gwUrl, { connections: 32, pipelining: 1 });
    const floorPool = new Pool(floorUrl, { connections: 32, pipelining: 1 });
    // The same digest client as "direct", through nginx: nginx relays the camera's challenge.
    const viaNginxClient = nginx
      ? new CameraClient({ baseUrl: nginx.url, username: 'admin', password, maxConnections: 32, maxInFlight: 32, queueLimit: 1000 })
      : undefined;
    const auth = 'Basic ' + Buffer.from('admin:bench-admin').toString('base64');
    const viaDirect = async () => {
      const r = await direct.request({ path: '/cgi-bin/configManager.cgi', query: 'action=getConfig&name=General', read: true });
      if (r.status !== 200) throw new Error(`direct ${r.status}`);
    };
    const viaGateway = async () => {
      const r = await pool.request({ method: 'GET', path: '/api/v1/cameras/cam1/system/general', headers: { authorization: auth } });
      await r.body.text();
      if (r.statusCode !== 200) throw new Error(`gateway ${r.statusCode}`);
    };
    const viaFloor = async () => {
      const r = await floorPool.request({ method: 'GET', path: '/' });
      await r.body.text();
      if (r.statusCode !== 200) throw new Error(`floor ${r.statusCode}`);
    };
    const viaNginx = async () => {
      const r = await viaNginxClient!.request({ path: '/cgi-bin/configManager.cgi', query: 'action=getConfig&name=General', read: true });
      if (r.status !== 200) throw new Error(`nginx ${r.status}`);
    };
    rows.push('| connections | target | req/s (median, range) | p50 ms | p99 ms | relay CPU µs/req |', '|---|---|---|---|---|---|');
    for (const connections of [1, 32]) {
      // Warm both paths (validator compiled, nonces learnt, JIT) before measuring.
      await runWindow(connections, viaDirect);
      await runWindow(connections, viaGateway);
      await runWindow(connections, viaFloor);
      if (nginx) await runWindow(connections, viaNginx);
      const d: Window[] = [];
      const g: Window[] = [];
      const f: Window[] = [];
      const n: Window[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        d.push(await runWindow(connections, viaDirect));
        g.push(await runWindow(connections, viaGateway, gw.child.pid));
        f.push(await runWindow(connections, viaFloor, floor.child.pid));
        if (nginx) n.push(await runWindow(connections, viaNginx, nginx.pid));
      }
      const line = (name: string, ws: Window[]) =>
        `| ${connections} | ${name} | ${median(ws.map((w) => w.reqPerSec)).toFixed(0)} (${range(
          ws.map((w) => w.reqPerSec),
          0,
        )}) | ${median(ws.map((w) => w.p50)).toFixed(3)} | ${median(ws.map((w) => w.p99)).toFixed(3)} | ${
          ws[0]!.cpuUsPerReq === undefined ? '—' : `${median(ws.map((w) => w.cpuUsPerReq!)).toFixed(0)} (${range(ws.map((w) => w.cpuUsPerReq!), 0)})`
        } |`;
      rows.push(line('direct (simulator)', d), line('bare Node relay (floor)', f));
      if (nginx) rows.push(line('nginx proxy (1 worker)', n));
      else rows.push(`| ${connections} | nginx proxy | not installed (apt-get install nginx) | | | |`);
      rows.push(line('camgate', g));
      if (nginx) {
        const vsNginx = median(g.map((w) => w.reqPerSec)) / median(n.map((w) => w.reqPerSec));
        rows.push(`| ${connections} | camgate / nginx | ${(vsNginx * 100).toFixed(0)}% | | | |`);
      }
      const ratio = median(g.map((w) => w.reqPerSec)) / median(d.map((w) => w.reqPerSec));
      const added = median(g.map((w) => w.p50)) - median(d.map((w) => w.p50));
      rows.push(`| ${connections} | camgate / direct | ${(ratio * 100).toFixed(0)}% | +${added.toFixed(3)} | | |`);
    }
    await pool.close();
    await floorPool.close();
    await viaNginxClient?.close();
    await direct.close();
  } finally {
    gw.child.kill('SIGTERM');
    floor.child.kill('SIGTERM');
    nginx?.stop();
    sim.child.kill('SIGTERM');
  }
  return rows;
}

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
const header = [
  '# Benchmark results',
  '',
  `Run ${new Date().toISOString()} by \`npm run bench\` on ${cpu}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}.`,
  `HTTP windows of ${WINDOW_MS} ms, ${ROUNDS} rounds interleaved direct / bare relay / nginx / camgate; the simulator, the relay, nginx and the gateway are separate processes (gateway LOG_LEVEL=warn).`,
  '',
];
const codec = codecBench();
process.stdout.write(codec.join('\n') + '\n');
const http = await httpBench();
process.stdout.write(http.join('\n') + '\n');
const notesFile = new URL('./NOTES.md', import.meta.url);
let notes = '';
try {
  notes = readFileSync(notesFile, 'utf8');
} catch {
  notes = '';
}
writeFileSync(
  new URL('./RESULTS.md', import.meta.url),
  [...header, '## Codec: key=value parse', '', ...codec, '', '## Config GET (General table): gateway vs direct', '', ...http, '', notes].join('\n'),
);
process.stdout.write('wrote bench/RESULTS.md\n');
