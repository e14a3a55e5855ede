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
  paths: {
    '/general': {
      get: { responses: { '200': { description: 'General', content: { 'application/json': { schema: { type: 'object' } } } } } },
      patch: {
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', properties: { General: { type: 'object', additionalProperties: { type: 'string' } } } } } } },
        responses: { '200': { description: 'General', content: { 'application/json': { schema: { type: 'object' } } } } },
      },
    },
    '/alarm': { get: { responses: { '200': { description: 'Alarm', content: { 'application/json': { schema: { type: 'object' } } } } } } },
  },
};
const app = express();
app.use(express.json());
app.use(OpenApiValidator.middleware({ apiSpec: spec as never, validateRequests: true }));
// A fresh 401 before every camera request, as most wrappers do.
async function cameraGet(uri: string): Promise<string | undefined> {
  const first = await fetch(base + uri);
  await first.text();
  const challenge = parseChallenge(first.headers.get('www-authenticate') ?? undefined);
  if (!challenge || challenge.scheme !== 'digest') return undefined;
  const authorization = digestAuthorization({ challenge, username: decodeURIComponent(camera.username), password: decodeURIComponent(camera.password), method: 'GET', uri, nc: 1 });
  return (await fetch(base + uri, { headers: { authorization } })).text();
}

function parse(text: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const line of text.split('\n')) {
    const [key, ...rest] = line.trim().split('=');
    if (!key) continue;
    let node = out as Record<string, unknown>;
    const parts = key.split('.');
    for (const part of parts.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>;
    node[parts[parts.length - 1]!] = rest.join('=');
  }
  return out;
}

for (const [route, table] of [['/general', 'General'], ['/alarm', 'Alarm']]) {
  app.get(route!, async (_req, res) => {
    const text = await cameraGet(`/cgi-bin/configManager.cgi?action=getConfig&name=${table}`);
    if (text === undefined) return res.status(502).end();
    res.json(parse(text));
  });
}
app.patch('/general', async (req, res) => {
  const fields = Object.entries((req.body as { General?: Record<string, string> }).General ?? {});
  const query = fields.map(([k, v]) => `General.${k}=${encodeURIComponent(v)}`).join('&');
  const ok = await cameraGet(`/cgi-bin/configManager.cgi?action=setConfig&${query}`);
  if (ok?.trim() !== 'OK') return res.status(502).end();
  const text = await cameraGet('/cgi-bin/configManager.cgi?action=getConfig&name=General');
  if (text === undefined) return res.status(502).end();
  res.json(parse(text));
});
const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`naive gateway listening on http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}\n`);
});
process.on('SIGTERM', () => process.exit(0));
