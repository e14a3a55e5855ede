// `npm run bench`: the foundation's figures, measured in one run on this machine.
//  1. codec parse throughput for a 60-line and a 2,000-line answer, against JSON.parse of the same data;
//  2. a config GET through the gateway vs the same request straight to the simulator, interleaved
//     A B A B over 3 rounds: req/s, p50/p99 latency, gateway CPU µs per request.
// A bare Node relay (bench/floor-proxy.ts) is the floor a Node gateway cannot go under here.
// The simulator and the gateway run as child processes so that their CPU is measured apart from
// the load generator. Results go to bench/RESULTS.md.
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { Pool } from 'undici';
import { CLK_TCK, cpuTicks, startChild } from './processes.ts';
import { CameraClient } from '../adapters/cgi/client.ts';
import { parseKeyValue } from '../adapters/cgi/codec.ts';
import { startNginxProxy } from './nginx-proxy.ts';

const ROUNDS = 3;
const WINDOW_MS = Number(process.env.BENCH_WINDOW_MS ?? 2_500);

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

interface Target {
  name: string;
  call: () => Promise<void>;
  /** The relaying process whose CPU is measured; none for the direct client. */
  pid?: number;
}

/** A target over HTTP through an undici pool: the gateway, the bare relay, the naive gateway. */
function httpTarget(name: string, url: string, path: string, pid: number, authorization?: string): Target & { pool: Pool } {
  const pool = new Pool(url, { connections: 32, pipelining: 1 });
  const headers = authorization ? { authorization } : {};
  return {
    name,
    pid,
    pool,
    call: async () => {
      const r = await pool.request({ method: 'GET', path, headers });
      await r.body.text();
      if (r.statusCode !== 200) throw new Error(`${name} ${r.statusCode}`);
    },
  };
}

/** The camera read through the project's digest client (nonce reuse), straight or via nginx. */
function clientTarget(name: string, client: CameraClient, pid?: number): Target {
  return {
    name,
    pid,
    call: async () => {
      const r = await client.request({ path: '/cgi-bin/configManager.cgi', query: 'action=getConfig&name=General', read: true });
      if (r.status !== 200) throw new Error(`${name} ${r.status}`);
    },
  };
}

async function httpBench(): Promise<string[]> {
  const password = 'bench-camera-pass';
  const sim = await startChild(['simulator/main.ts'], { SIM_PORT: '0', SIM_PASSWORD: password }, /(http:\/\/127\.0\.0\.1:\d+)/);
  const simUrl = sim.match[1]!;
  const cameraUrl = simUrl.replace('http://', `http://admin:${password}@`);
  const listening = /listening on (http:\/\/[^\s]+)/;
  const gw = await startChild(
    ['gateway/main.ts'],
    { PORT: '0', HOST: '127.0.0.1', CAMERA_URL: cameraUrl, CAMGATE_ADMIN_PASSWORD: 'bench-admin', LOG_LEVEL: 'warn' },
    listening,
  );
  const gwUrl = gw.match[1]!;
  // Measure a ready gateway: every validator compiled (it warms them in the background).
  for (let i = 0; i < 600 && (await fetch(`${gwUrl}/readyz`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 100));
  const floor = await startChild(['bench/floor-proxy.ts'], { CAMERA_URL: cameraUrl }, listening);
  const naive = await startChild(['bench/naive-gateway.ts'], { CAMERA_URL: cameraUrl }, listening);
  // One worker process, so its CPU per request is comparable with the gateway's.
  const nginx = await startNginxProxy(simUrl, 18000 + Math.floor(Math.random() * 1000));
  const clients: CameraClient[] = [];
  const digestClient = (baseUrl: string) => {
    const c = new CameraClient({ baseUrl, username: 'admin', password, maxConnections: 32, maxInFlight: 32, queueLimit: 1000 });
    clients.push(c);
    return c;
  };
  const camgate = httpTarget('camgate', gwUrl, '/api/v1/cameras/cam1/system/general', gw.child.pid!, 'Basic ' + Buffer.from('admin:bench-admin').toString('base64'));
  const pools = [camgate, httpTarget('bare Node relay (floor)', floor.match[1]!, '/', floor.child.pid!), httpTarget('naive gateway', naive.match[1]!, '/general', naive.child.pid!)];
  const direct = clientTarget('direct (simulator)', digestClient(simUrl));
  // The same digest client as "direct", through nginx: nginx relays the camera's challenge.
  const targets: Target[] = [direct, pools[1]!, ...(nginx ? [clientTarget('nginx proxy (1 worker)', digestClient(nginx.url), nginx.pid)] : []), pools[2]!, camgate];
  const rows: string[] = ['| connections | target | req/s (median, range) | p50 ms | p99 ms | relay CPU µs/req |', '|---|---|---|---|---|---|'];
  try {
    for (const connections of [1, 32]) {
      // Warm every path (validators compiled, nonces learnt, JIT) before measuring.
      for (const t of targets) await runWindow(connections, t.call);
      const windows = new Map<Target, Window[]>(targets.map((t) => [t, []]));
      for (let round = 0; round < ROUNDS; round++) {
        for (const t of targets) windows.get(t)!.push(await runWindow(connections, t.call, t.pid));
      }
      const rate = (t: Target) => median(windows.get(t)!.map((w) => w.reqPerSec));
      for (const t of targets) {
        const ws = windows.get(t)!;
        const cpu = ws[0]!.cpuUsPerReq === undefined ? '—' : `${median(ws.map((w) => w.cpuUsPerReq!)).toFixed(0)} (${range(ws.map((w) => w.cpuUsPerReq!), 0)})`;
        rows.push(`| ${connections} | ${t.name} | ${rate(t).toFixed(0)} (${range(ws.map((w) => w.reqPerSec), 0)}) | ${median(ws.map((w) => w.p50)).toFixed(3)} | ${median(ws.map((w) => w.p99)).toFixed(3)} | ${cpu} |`);
      }
      if (!nginx) rows.push(`| ${connections} | nginx proxy | not installed (apt-get install nginx) | | | |`);
      const added = median(windows.get(camgate)!.map((w) => w.p50)) - median(windows.get(direct)!.map((w) => w.p50));
      rows.push(`| ${connections} | camgate / direct | ${((rate(camgate) / rate(direct)) * 100).toFixed(0)}% | +${added.toFixed(3)} | | |`);
      for (const t of targets.filter((x) => x.name.startsWith('nginx') || x.name.startsWith('naive'))) {
        rows.push(`| ${connections} | camgate / ${t.name} | ${((rate(camgate) / rate(t)) * 100).toFixed(0)}% | | | |`);
      }
    }
  } finally {
    for (const p of pools) await p.pool.close();
    for (const c of clients) await c.close();
    for (const child of [gw.child, floor.child, naive.child, sim.child]) child.kill('SIGTERM');
    nginx?.stop();
  }
  return rows;
}

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
const header = [
  '# Benchmark results',
  '',
  `Run ${new Date().toISOString()} by \`npm run bench\` on ${cpu}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}.`,
  `HTTP windows of ${WINDOW_MS} ms, ${ROUNDS} rounds interleaved direct / bare relay / nginx / naive gateway / camgate, each a separate process (gateway LOG_LEVEL=warn).`,
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
