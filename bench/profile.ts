// `node --import tsx bench/profile.ts [path] [connections] [seconds]`: the gateway under load with
// `--cpu-prof` in front of the fast fake camera, and the functions that take its CPU, by self
// time and grouped by package. Not part of `npm run bench`; what the fixes in RESULTS.md came from.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { cpuTicks, CLK_TCK, startChild } from './processes.ts';

const path = process.argv[2] ?? '/api/v1/cameras/cam1/system/general';
const connections = Number(process.argv[3] ?? 32);
const seconds = Number(process.argv[4] ?? 6);
const password = 'bench-camera-pass';
const camera = await startChild(['bench/fake-camera.ts'], { FAKE_PASSWORD: password }, /(http:\/\/127\.0\.0\.1:\d+)/);
const dir = mkdtempSync(join(tmpdir(), 'camgate-prof-'));
const gw = await startChild(
  ['--cpu-prof', `--cpu-prof-dir=${dir}`, 'gateway/main.ts'],
  { PORT: '0', HOST: '127.0.0.1', CAMERA_URL: camera.match[1]!.replace('http://', `http://admin:${password}@`), CAMGATE_ADMIN_PASSWORD: 'bench-admin', LOG_LEVEL: 'warn' },
  /listening on (http:\/\/[^\s]+)/,
);
const url = gw.match[1]!;
for (let i = 0; i < 600 && (await fetch(`${url}/readyz`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 100));
const pool = new Pool(url, { connections });
const authorization = 'Basic ' + Buffer.from('admin:bench-admin').toString('base64');
let n = 0;
const load = async (ms: number) => {
  const end = performance.now() + ms;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end) {
        const r = await pool.request({ method: 'GET', path, headers: { authorization } });
        await r.body.text();
        if (r.statusCode !== 200) throw new Error(`status ${r.statusCode}`);
        n++;
      }
    }),
  );
};
await load(1000);
n = 0;
const cpu0 = cpuTicks(gw.child.pid!);
await load(seconds * 1000);
const cpuUs = ((cpuTicks(gw.child.pid!) - cpu0) / CLK_TCK) * 1e6;
process.stdout.write(`${n} requests, ${(n / seconds).toFixed(0)} req/s, gateway CPU ${(cpuUs / n).toFixed(0)} µs/request\n`);
await pool.close();
const exited = new Promise((r) => gw.child.once('exit', r));
gw.child.kill('SIGTERM');
await exited;
camera.child.kill('SIGTERM');

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }
const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))!;
const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[]; endTime: number };
// Steady state only: the samples of the measured window (start-up compiles every validator),
// which ends shortly before the process does.
const hits = new Map<number, number>();
const stamps: number[] = [];
let t = 0;
for (const d of profile.timeDeltas) stamps.push((t += d));
const last = stamps[stamps.length - 1]!;
const from = last - seconds * 1e6 + 300_000;
const to = last - 300_000;
profile.samples.forEach((id, i) => {
  if (stamps[i]! >= from && stamps[i]! <= to) hits.set(id, (hits.get(id) ?? 0) + 1);
});
let total = 0;
const byFn = new Map<string, number>();
const byPkg = new Map<string, number>();
for (const node of profile.nodes) {
  const { functionName, url: u, lineNumber } = node.callFrame;
  const count = hits.get(node.id) ?? 0;
  total += count;
  if (functionName === '(idle)' || functionName === '(program)') continue;
  const short = u.replace(/^file:\/\/.*?\/node_modules\//, '').replace(/^file:\/\/\/work\/main\//, '');
  const key = `${functionName || '(anonymous)'} ${short}:${lineNumber + 1}`;
  byFn.set(key, (byFn.get(key) ?? 0) + count);
  const pkg = u.includes('/node_modules/') ? u.replace(/^.*\/node_modules\/((?:@[^/]+\/)?[^/]+).*$/, '$1') : u.startsWith('file://') ? u.replace(/^file:\/\/\/work\/main\/([^/]+\/[^/]+).*$/, '$1') : u === '' ? functionName : 'node:' + u.replace(/^node:/, '').split('/')[0];
  byPkg.set(pkg, (byPkg.get(pkg) ?? 0) + count);
}
const idle = profile.nodes.filter((x) => x.callFrame.functionName === '(idle)').reduce((a, x) => a + (hits.get(x.id) ?? 0), 0);
const busy = total - idle;
const top = (m: Map<string, number>, k: number) =>
  [...m].sort((a, b) => b[1] - a[1]).slice(0, k).map(([name, hits]) => `${((hits / busy) * 100).toFixed(1).padStart(5)}%  ${name}`).join('\n');
process.stdout.write(`busy samples ${busy} of ${total}\n\nby package:\n${top(byPkg, 20)}\n\nby function (self):\n${top(byFn, 40)}\n`);
process.stdout.write(`profile: ${join(dir, file)}\n`);
