// `node --import tsx bench/ab.ts DIR_A DIR_B …`: CPU per request of gateways from several source
// trees (e.g. `git archive <commit> | tar -x -C DIR`, with node_modules linked in), interleaved
// A B A B … in front of one fast fake camera: how the before → after figures in NOTES.md were
// measured. AB_PATH (default the small config GET), AB_CONNS (32), AB_ROUNDS (5) and AB_PATCH=1
// (a one-field PATCH of General instead of a GET). Not part of `npm run bench`.
import { Pool } from 'undici';
import { cpuTicks, CLK_TCK, startChild } from './processes.ts';

const trees = process.argv.slice(2);
if (trees.length === 0) throw new Error('usage: bench/ab.ts DIR_A DIR_B …');
const path = process.env.AB_PATH ?? '/api/v1/cameras/cam1/system/general';
const conns = Number(process.env.AB_CONNS ?? 32);
const rounds = Number(process.env.AB_ROUNDS ?? 5);
const patch = process.env.AB_PATCH === '1';
const password = 'bench-camera-pass';
const authorization = 'Basic ' + Buffer.from('admin:bench-admin').toString('base64');

const camera = await startChild(['bench/fake-camera.ts'], { FAKE_PASSWORD: password }, /(http:\/\/127\.0\.0\.1:\d+)/);
const gateways = [];
for (const tree of trees) {
  const gw = await startChild(
    [`${tree}/gateway/main.ts`],
    { PORT: '0', HOST: '127.0.0.1', CAMERA_URL: camera.match[1]!.replace('http://', `http://admin:${password}@`), CAMGATE_ADMIN_PASSWORD: 'bench-admin', LOG_LEVEL: 'warn' },
    /listening on (http:\/\/[^\s]+)/,
  );
  const url = gw.match[1]!;
  for (let i = 0; i < 600 && (await fetch(`${url}/readyz`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 100));
  gateways.push({ tree, gw, pool: new Pool(url, { connections: conns }), usPerRequest: [] as number[] });
}

async function load(pool: Pool, ms: number): Promise<number> {
  let n = 0;
  const end = performance.now() + ms;
  await Promise.all(
    Array.from({ length: conns }, async () => {
      while (performance.now() < end) {
        const r = patch
          ? await pool.request({ method: 'PATCH', path, headers: { authorization, 'content-type': 'application/json' }, body: JSON.stringify({ General: { MachineName: 'ab' } }) })
          : await pool.request({ method: 'GET', path, headers: { authorization } });
        await r.body.text();
        if (r.statusCode !== 200) throw new Error(`status ${r.statusCode}`);
        n++;
      }
    }),
  );
  return n;
}

for (const g of gateways) await load(g.pool, 1000);
for (let round = 0; round < rounds; round++) {
  for (const g of gateways) {
    const before = cpuTicks(g.gw.child.pid!);
    const n = await load(g.pool, 1500);
    g.usPerRequest.push((((cpuTicks(g.gw.child.pid!) - before) / CLK_TCK) * 1e6) / n);
  }
}
for (const g of gateways) {
  const sorted = [...g.usPerRequest].sort((a, b) => a - b);
  process.stdout.write(`${g.tree}: CPU µs/request min ${sorted[0]!.toFixed(0)}, median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(0)} (${g.usPerRequest.map((x) => x.toFixed(0)).join(' ')})\n`);
  await g.pool.close();
  g.gw.child.kill('SIGTERM');
}
camera.child.kill('SIGTERM');
process.exit(0);
