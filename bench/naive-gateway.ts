// The way most wrappers are written, as the benchmark's baseline (kept in bench/ only, never in
// the product): Express + express-openapi-validator + fetch, a 401 round trip on every call, and
// a split-and-assign parser. Only the digest arithmetic is borrowed, so both gateways compute
// the same MD5s.
import express from 'express';
import * as OpenApiValidator from 'express-openapi-validator';
import { digestAuthorization, parseChallenge } from '../adapters/cgi/digest.ts';

const camera = new URL(process.env.CAMERA_URL!);
const base = `${camera.protocol}//${camera.host}`;
const spec = {
  openapi: '3.0.3',
  info: { title: 'naive', version: '1' },
  paths: { '/general': { get: { responses: { '200': { description: 'General', content: { 'application/json': { schema: { type: 'object' } } } } } } } },
};
const app = express();
app.use(OpenApiValidator.middleware({ apiSpec: spec as never, validateRequests: true }));
app.get('/general', async (_req, res) => {
  const uri = '/cgi-bin/configManager.cgi?action=getConfig&name=General';
  const first = await fetch(base + uri);
  await first.text();
  const challenge = parseChallenge(first.headers.get('www-authenticate') ?? undefined);
  if (!challenge || challenge.scheme !== 'digest') return res.status(502).end();
  const authorization = digestAuthorization({ challenge, username: decodeURIComponent(camera.username), password: decodeURIComponent(camera.password), method: 'GET', uri, nc: 1 });
  const text = await (await fetch(base + uri, { headers: { authorization } })).text();
  const out: Record<string, unknown> = {};
  for (const line of text.split('\n')) {
    const [key, ...rest] = line.trim().split('=');
    if (!key) continue;
    let node = out as Record<string, unknown>;
    const parts = key.split('.');
    for (const part of parts.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>;
    node[parts[parts.length - 1]!] = rest.join('=');
  }
  res.json(out);
});
const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`naive gateway listening on http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}\n`);
});
process.on('SIGTERM', () => process.exit(0));
