// `node --import tsx bench/media.ts` (not part of npm test): the media figures of issue 4.
//  1. Snapshot coalescing: bursts of 100 concurrent callers → camera requests per burst, with the
//     camera answering at once and with 100 ms and 500 ms of latency; wall time per burst.
//  2. MJPEG fan-out: 1, 10 and 100 viewers of one camera stream → upstream streams opened,
//     frames/s per viewer (mean and worst), frames/s delivered in total, gateway CPU and RSS.
// The simulator and the gateway run as child processes, so the gateway's CPU is its own
// (read from /proc); the viewers run here. Results go to bench/MEDIA-RESULTS.md.
import { get, type ClientRequest } from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { CLK_TCK, cpuTicks, startChild } from './processes.ts';
import { boundaryOf, MultipartReader } from '../adapters/media/multipart.ts';

const WINDOW_MS = Number(process.env.BENCH_WINDOW_MS ?? 5_000);
const AUTH = 'Basic ' + Buffer.from('admin:bench-admin').toString('base64');



function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

interface SimLog { stats: { requests: number; openConnections: number }; requestLog: Array<{ rawUrl: string; status: number; authorized: boolean }> }

async function simStats(simUrl: string): Promise<SimLog> {
  return (await (await fetch(`${simUrl}/__sim/stats`)).json()) as SimLog;
}
async function simReset(simUrl: string): Promise<void> {
  await fetch(`${simUrl}/__sim/stats`, { method: 'DELETE' });
}
async function simFaults(simUrl: string, faults: object): Promise<void> {
  const r = await fetch(`${simUrl}/__sim/faults`, { method: 'POST', body: JSON.stringify(faults), headers: { 'content-type': 'application/json' } });
  if (r.status !== 200) throw new Error(`faults ${r.status}`);
}

async function snapshotBench(gwUrl: string, simUrl: string, gwPid: number): Promise<string[]> {
  const rows = ['| camera latency | callers | bursts | camera requests per burst | answers 200 | wall ms per burst (median) | gateway CPU ms per burst |', '|---|---|---|---|---|---|---|'];
  const pool = new Pool(gwUrl, { connections: 100, pipelining: 1 });
  try {
    for (const latencyMs of [0, 100, 500]) {
      await simFaults(simUrl, { latencyMs });
      const perBurst: number[] = [];
      const walls: number[] = [];
      let ok = 0;
      let cpu = 0;
      const bursts = 5;
      for (let b = 0; b < bursts; b++) {
        await sleep(1_100);   // past the last-good cache: every burst needs a new picture
        await simReset(simUrl);
        const c0 = cpuTicks(gwPid);
        const t0 = performance.now();
        const answers = await Promise.all(Array.from({ length: 100 }, async () => {
          const r = await pool.request({ method: 'GET', path: '/api/v1/cameras/cam1/snapshot', headers: { authorization: AUTH } });
          await r.body.arrayBuffer();
          return r.statusCode;
        }));
        walls.push(performance.now() - t0);
        cpu += ((cpuTicks(gwPid) - c0) / CLK_TCK) * 1000;
        ok += answers.filter((s) => s === 200).length;
        const log = await simStats(simUrl);
        perBurst.push(log.requestLog.filter((r) => r.authorized && r.rawUrl.includes('/snapshot.cgi')).length);
      }
      walls.sort((a, b) => a - b);
      rows.push(`| ${latencyMs} ms | 100 | ${bursts} | ${perBurst.join(', ')} | ${ok} / ${bursts * 100} | ${walls[Math.floor(walls.length / 2)]!.toFixed(0)} | ${(cpu / bursts).toFixed(0)} |`);
    }
  } finally {
    await simFaults(simUrl, { latencyMs: 0 });
    await pool.close();
  }
  return rows;
}

interface Viewer { req: ClientRequest; frames: number[]; bytes: number }

function view(gwUrl: string, subtype: number): Viewer {
  const v: Viewer = { req: undefined as unknown as ClientRequest, frames: [], bytes: 0 };
  const u = new URL(`${gwUrl}/api/v1/cameras/cam1/video/mjpeg?subtype=${subtype}`);
  v.req = get({ host: u.hostname, port: u.port, path: u.pathname + u.search, headers: { authorization: AUTH }, agent: false }, (res) => {
    const boundary = boundaryOf(String(res.headers['content-type'] ?? ''));
    const reader = boundary ? new MultipartReader(boundary) : null;
    res.on('data', (c: Buffer) => {
      v.bytes += c.length;
      for (const _ of reader?.push(c) ?? []) v.frames.push(performance.now());
    });
  });
  v.req.on('error', () => undefined);
  return v;
}

async function mjpegBench(gwUrl: string, simUrl: string, gwPid: number): Promise<string[]> {
  const rows = [
    '| stream | viewers | camera streams opened | frames/s per viewer (mean / worst) | frames/s delivered | MB/s delivered | gateway CPU % of one core | gateway RSS MiB |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const subtype of [0, 1]) {
    for (const n of [1, 10, 100]) {
      await sleep(1_500);   // the previous run's upstream has closed
      await simReset(simUrl);
      const viewers = Array.from({ length: n }, () => view(gwUrl, subtype));
      const started = performance.now();
      while (viewers.some((v) => v.frames.length < 2) && performance.now() - started < 10_000) await sleep(50);
      await sleep(500);
      const c0 = cpuTicks(gwPid);
      const t0 = performance.now();
      const b0 = viewers.reduce((a, v) => a + v.bytes, 0);
      await sleep(WINDOW_MS);
      const t1 = performance.now();
      const cpuPct = (((cpuTicks(gwPid) - c0) / CLK_TCK) * 1000 / (t1 - t0)) * 100;
      const bytes = viewers.reduce((a, v) => a + v.bytes, 0) - b0;
      const rates = viewers.map((v) => v.frames.filter((t) => t >= t0 && t < t1).length / ((t1 - t0) / 1000));
      const mean = rates.reduce((a, b) => a + b, 0) / rates.length;
      const log = await simStats(simUrl);
      const opened = log.requestLog.filter((r) => r.authorized && r.rawUrl.includes('/mjpg/video.cgi')).length;
      const rss = rssMiB(gwPid);
      for (const v of viewers) v.req.destroy();
      rows.push(`| ${subtype === 0 ? 'main (640×360)' : 'extra 1 (320×180)'} | ${n} | ${opened} | ${mean.toFixed(2)} / ${Math.min(...rates).toFixed(2)} | ${(mean * n).toFixed(0)} | ${(bytes / 1e6 / ((t1 - t0) / 1000)).toFixed(1)} | ${cpuPct.toFixed(1)} | ${rss.toFixed(0)} |`);
      process.stdout.write(rows[rows.length - 1] + '\n');
    }
  }
  return rows;
}

const password = 'bench-camera-pass';
const sim = await startChild(['simulator/main.ts'], { SIM_PORT: '0', SIM_PASSWORD: password }, /(http:\/\/127\.0\.0\.1:\d+)/);
const simUrl = sim.match[1]!;
// The fan-out is measured, not the per-user rate limits (gateway/rate-limit.ts), which would
// refuse all but the first few of 100 callers from one user: off for snapshot and MJPEG.
const config = join(mkdtempSync(join(os.tmpdir(), 'camgate-media-bench-')), 'gateway.yaml');
writeFileSync(config, 'rateLimits:\n  snapshot: { perUser: null, perCamera: null }\n  mjpeg: { perUser: null, perCamera: null }\n');
const gw = await startChild(['gateway/main.ts', '--config', config], {
  PORT: '0', HOST: '127.0.0.1', CAMERA_URL: simUrl.replace('http://', `http://admin:${password}@`),
  CAMGATE_ADMIN_PASSWORD: 'bench-admin', LOG_LEVEL: 'warn',
}, /listening on (http:\/\/[^\s]+)/);
const gwUrl = gw.match[1]!;
const gwPid = gw.child.pid!;
try {
  for (let i = 0; i < 600 && (await fetch(`${gwUrl}/readyz`)).status !== 200; i++) await sleep(100);
  const snap = await snapshotBench(gwUrl, simUrl, gwPid);
  process.stdout.write(snap.join('\n') + '\n');
  const mjpeg = await mjpegBench(gwUrl, simUrl, gwPid);
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  const head = [
    '# Media benchmark results',
    '',
    `Run ${new Date().toISOString()} by \`node --import tsx bench/media.ts\` on ${cpu}, ${os.cpus().length} cores, Node ${process.version}.`,
    `The simulator (10 frames/s per MJPEG stream) and the gateway (LOG_LEVEL=warn) are separate processes; the callers and viewers run in the bench process over loopback. MJPEG windows of ${WINDOW_MS} ms.`,
    '',
    '## Snapshot coalescing: 100 concurrent callers',
    '',
    ...snap,
    '',
    '## MJPEG fan-out: one camera stream, many viewers',
    '',
    ...mjpeg,
    '',
  ];
  const file = new URL('./MEDIA-RESULTS.md', import.meta.url);
  let notes = '';
  try {
    const old = readFileSync(file, 'utf8');
    const i = old.indexOf('## Notes');
    if (i >= 0) notes = old.slice(i);
  } catch { /* first run */ }
  writeFileSync(file, head.join('\n') + (notes ? '\n' + notes : ''));
  process.stdout.write('wrote bench/MEDIA-RESULTS.md\n');
} finally {
  gw.child.kill();
  sim.child.kill();
}
