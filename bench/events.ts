// `node --import tsx bench/events.ts`: live-event figures, written to bench/EVENTS-RESULTS.md.
//  1. multipart event parser throughput (MB/s, events/s), whole buffer and 64-byte chunks;
//  2. SSE fan-out: 1,000 SSE clients on one gateway (one upstream attach at the simulator), bursts of
//     events raised at the simulator; delivered events/s, time until the last client has the last
//     event, and CPU. Everything runs in this one process (simulator, gateway and the 1,000
//     clients), so the CPU figure is an upper bound for the gateway's share.
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { Agent, request } from 'undici';
import { MultipartParser, parseEventInfo } from '../adapters/cgi/multipart.ts';
import { closeAll, hubDefaults, hubFor } from '../adapters/events/hub.ts';
import { basic, startStack, USERS } from '../test/stack.ts';

const CLIENTS = Number(process.env.BENCH_SSE_CLIENTS ?? 1000);
const BURSTS = 5;
const PER_BURST = 50;

function parserBench(): string[] {
  const parts: string[] = [];
  for (let i = 0; i < 2000; i++) {
    const info = i % 5 === 0 ? 'Heartbeat' : `Code=VideoMotion; action=${i % 2 ? 'Start' : 'Stop'}; index=${i % 4}; data={"LocaleTime":"2026-11-25 10:00:00","UTC":1795600800,"RegionName":["Region1"],"Note":"a=b; c=d"}`;
    parts.push(`--myboundary\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(info)}\r\n\r\n${info}\r\n\r\n`);
  }
  const all = Buffer.from(parts.join(''));
  const rows = ['| input | chunking | MB/s | parts/s |', '|---|---|---|---|'];
  for (const chunk of [all.length, 64]) {
    let n = 0;
    const start = performance.now();
    let rounds = 0;
    while (performance.now() - start < 1000) {
      const p = new MultipartParser('myboundary');
      for (let at = 0; at < all.length; at += chunk) {
        for (const part of p.push(all.subarray(at, at + chunk))) { parseEventInfo(part.body.toString('utf8')); n++; }
      }
      rounds++;
    }
    const s = (performance.now() - start) / 1000;
    rows.push(`| 2,000 parts, ${(all.length / 1024).toFixed(0)} KiB | ${chunk === all.length ? 'one buffer' : `${chunk}-byte chunks`} | ${((all.length * rounds) / s / 1e6).toFixed(0)} | ${Math.round(n / s).toLocaleString('en')} |`);
  }
  return rows;
}

async function fanOutBench(): Promise<string[]> {
  hubDefaults.keepaliveSeconds = 5;
  const stack = await startStack();
  const server = stack.app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const agent = new Agent({ connections: null, pipelining: 0 });
  const auth = basic(USERS.viewer);
  const warm = await request(`${base}/api/v1/cameras/cam1/events/indexes?code=AlarmLocal`, { headers: { authorization: auth } });
  await warm.body.text();

  const counts = new Array<number>(CLIENTS).fill(0);
  const bodies: Array<{ destroy(): void }> = [];
  const openStart = performance.now();
  await Promise.all(counts.map(async (_, i) => {
    const res = await request(`${base}/api/v1/cameras/cam1/events/stream?codes=VideoMotion`, { dispatcher: agent, headers: { authorization: auth }, bodyTimeout: 0 });
    bodies.push(res.body);
    let tail = '';
    res.body.on('data', (c: Buffer) => {
      const text = tail + c.toString('utf8');
      // Every message starts a line with `id: `; a match can straddle two chunks (4-char tail).
      let at = 0;
      let idx: number;
      while ((idx = text.indexOf('\nid: ', at)) >= 0) {
        counts[i]!++;
        at = idx + 1;
      }
      tail = text.slice(-4);
    });
  }));
  const openMs = performance.now() - openStart;
  const hub = hubFor(stack.cameras.get('cam1')!);
  while (!(hub.connected && hub.synchronised)) await new Promise((r) => setTimeout(r, 20));
  const attaches = stack.sim.attachTotal();

  const rows = ['| clients | upstream attaches | events | delivered | wall ms (raise → last client has all) | delivered events/s | CPU ms (whole process) | CPU µs per delivered event |', '|---|---|---|---|---|---|---|---|'];
  const total = BURSTS * PER_BURST;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let b = 0; b < BURSTS; b++) {
    for (let i = 0; i < PER_BURST; i++) stack.sim.raiseEvent('VideoMotion', i % 2 ? 'Stop' : 'Start', 0);
    await new Promise((r) => setTimeout(r, 10));
  }
  const deadline = Date.now() + 60_000;
  while (counts.some((c) => c < total) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const delivered = counts.reduce((a, b) => a + Math.min(b, total), 0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  rows.push(`| ${CLIENTS} | ${attaches} | ${total} | ${delivered.toLocaleString('en')} | ${wall.toFixed(0)} | ${Math.round(delivered / (wall / 1000)).toLocaleString('en')} | ${cpuMs.toFixed(0)} | ${((cpuMs * 1000) / delivered).toFixed(1)} |`);
  rows.push('', `Opening ${CLIENTS} SSE streams took ${openMs.toFixed(0)} ms.`);

  for (const b of bodies) b.destroy();
  await closeAll();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await agent.close();
  await stack.close();
  return rows;
}

const parser = parserBench();
const fanOut = await fanOutBench();
const out = [
  '# Live events: figures',
  '',
  `Measured by \`node --import tsx bench/events.ts\` on ${os.cpus()[0]?.model ?? 'unknown CPU'} (${os.cpus().length} CPUs), Node ${process.version}, ${new Date().toISOString().slice(0, 10)}.`,
  '',
  '## Multipart event parser (adapters/cgi/multipart.ts + parseEventInfo)',
  '',
  ...parser,
  '',
  '## SSE fan-out (one attach per camera, shared)',
  '',
  ...fanOut,
  '',
].join('\n');
writeFileSync(new URL('./EVENTS-RESULTS.md', import.meta.url), out);
process.stdout.write(out + '\n');
