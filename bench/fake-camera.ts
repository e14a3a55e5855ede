// The "direct" target and the upstream of every other target: a minimal fast fake camera, so that
// the camera is not what limits a gateway's figures. configManager.cgi getConfig / setConfig only,
// HTTP Digest (MD5, qop=auth) with nonce reuse like a real camera, tables seeded from the
// simulator's files: General (the small answer) and Alarm widened to LARGE_ALARM_INPUTS inputs
// (~2,000 lines, the large answer). Counts the requests it gets; `GET /stats` answers the count.
// Kept in bench/ only.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseSeedText, type Seed } from '../simulator/state.ts';

const USER = process.env.FAKE_USER ?? 'admin';
const PASSWORD = process.env.FAKE_PASSWORD ?? 'bench-camera-pass';
const REALM = 'Login to fake camera';
/** 23 inputs × 87 lines ≈ 2,000 lines; the schema allows 64. */
export const LARGE_ALARM_INPUTS = 23;

const seed: Seed = { entries: [], tableSections: new Map(), warnings: [] };
for (const table of ['General', 'Alarm']) {
  const file = new URL(`../simulator/data/config/${table}.txt`, import.meta.url);
  parseSeedText(readFileSync(file, 'utf8'), `${table}.txt`, seed);
}
// One Map per table, key (without `table.`) → value, in the seed's order.
const tables = new Map<string, Map<string, string>>([['General', new Map()], ['Alarm', new Map()]]);
const alarm0: Array<[string, string]> = [];
for (const e of seed.entries) {
  const key = e.key.slice('table.'.length);
  if (key.startsWith('General.')) tables.get('General')!.set(key, e.value);
  else if (key.startsWith('Alarm[0]')) alarm0.push([key.slice('Alarm[0]'.length), e.value]);
}
// Input by input, as a camera answers (each input's lines together).
for (let i = 0; i < LARGE_ALARM_INPUTS; i++) for (const [rest, value] of alarm0) tables.get('Alarm')!.set(`Alarm[${i}]${rest}`, value);
const rendered = new Map<string, Buffer>();
function answer(table: string): Buffer | undefined {
  let body = rendered.get(table);
  if (body === undefined) {
    const values = tables.get(table);
    if (!values) return undefined;
    body = Buffer.from([...values].map(([k, v]) => `table.${k}=${v}\r\n`).join(''));
    rendered.set(table, body);
  }
  return body;
}

const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const HA1 = md5(`${USER}:${REALM}:${PASSWORD}`);
// Issued nonces, oldest first; a real camera's table is small too.
const nonces = new Set<string>();
const NONCE_TABLE = 1024;
let requests = 0;
let challenges = 0;

function challenge(res: ServerResponse, stale: boolean): void {
  challenges++;
  const nonce = randomBytes(12).toString('hex');
  nonces.add(nonce);
  if (nonces.size > NONCE_TABLE) nonces.delete(nonces.values().next().value!);
  res.writeHead(401, { 'WWW-Authenticate': `Digest realm="${REALM}", qop="auth", nonce="${nonce}", opaque="fake"${stale ? ', stale=true' : ''}`, 'Content-Length': '0' }).end();
}

/** 'ok', or 'stale' for a right answer to a nonce the table no longer holds (RFC 7616 stale=true). */
function authorised(req: IncomingMessage): 'ok' | 'stale' | 'no' {
  const h = req.headers.authorization;
  if (!h || !h.startsWith('Digest ')) return 'no';
  const p: Record<string, string> = {};
  for (const m of h.slice(7).matchAll(/([a-z]+)=(?:"([^"]*)"|([^,\s]*))/g)) p[m[1]!] = m[2] ?? m[3] ?? '';
  if (p.username !== USER || !p.nonce || p.uri !== req.url) return 'no';
  const ha2 = md5(`${req.method}:${p.uri}`);
  if (p.response !== md5(`${HA1}:${p.nonce}:${p.nc}:${p.cnonce}:${p.qop}:${ha2}`)) return 'no';
  return nonces.has(p.nonce) ? 'ok' : 'stale';
}

const text = (res: ServerResponse, status: number, body: Buffer | string) =>
  res.writeHead(status, { 'Content-Type': 'text/plain;charset=utf-8', 'Content-Length': String(Buffer.byteLength(body)) }).end(body);

const server = createServer((req, res) => {
  if (req.url === '/stats') return text(res, 200, JSON.stringify({ requests, challenges }));
  requests++;
  const auth = authorised(req);
  if (auth !== 'ok') return challenge(res, auth === 'stale');
  const url = new URL(req.url!, 'http://camera');
  if (url.pathname !== '/cgi-bin/configManager.cgi') return text(res, 404, 'Error\r\nErrorID=4, Detail=Unknown resource\r\n');
  const action = url.searchParams.get('action');
  if (action === 'getConfig') {
    const body = answer(url.searchParams.get('name') ?? '');
    return body ? text(res, 200, body) : text(res, 200, 'Error\r\nErrorID=4, Detail=Unknown table\r\n');
  }
  if (action === 'setConfig') {
    for (const [k, v] of url.searchParams) {
      if (k === 'action') continue;
      const table = /^[A-Za-z]+/.exec(k)?.[0] ?? '';
      const values = tables.get(table);
      if (values?.has(k)) {
        values.set(k, v);
        rendered.delete(table);
      }
    }
    return text(res, 200, 'OK\r\n');
  }
  return text(res, 200, 'Error\r\nErrorID=1, Detail=Unknown action\r\n');
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`fake camera listening on http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
