// The request fast paths of bench issue 7 answer exactly what express did: the fast lane
// (gateway/fast-lane.ts, with gateway/param-validator.ts in place of express-openapi-validator's
// request check) and the route index (gateway/route-index.ts) against an app without the lane, and
// sendJson (adapters/rest/translator.ts, used when responses are not validated, as in production)
// against res.json (used when they are).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import request from 'supertest';
import type { Express } from 'express';
import { buildApp, onvifOf } from '../gateway/app.ts';
import { UserStore } from '../gateway/auth.ts';
import { CameraRegistry } from '../gateway/cameras.ts';
import { createLogger } from '../gateway/logger.ts';
import { loadSpec, type LoadedSpec } from '../gateway/spec.ts';
import { paramCheck } from '../gateway/param-validator.ts';
import { NO_RATE_LIMITS, RateLimiter } from '../gateway/rate-limit.ts';
import { closeAll as closeEventStreams } from '../adapters/events/hub.ts';
import { startSimulator, type Simulator } from '../simulator/server.ts';
import { basic, USERS } from './stack.ts';

const admin = basic(USERS.admin);
const viewer = basic(USERS.viewer);

describe('fast paths answer as express did', () => {
  let sim: Simulator;
  let cameras: CameraRegistry;
  let spec: LoadedSpec;
  let reference: Express;
  let production: Express;
  let validated: Express;

  before(async () => {
    sim = await startSimulator({ model: 'WV-V2530LK', username: 'admin', password: 'cam-pass-Fast1' });
    const logger = createLogger('silent');
    cameras = new CameraRegistry();
    cameras.add({ id: 'cam1', baseUrl: sim.url, username: 'admin', password: 'cam-pass-Fast1', model: 'WV-V2530LK' }, logger, true);
    spec = loadSpec();
    const deps = { spec, cameras, users: new UserStore(Object.values(USERS)), logger, rateLimiter: new RateLimiter(NO_RATE_LIMITS) };
    reference = buildApp({ ...deps, validateResponses: true, fastPaths: false });
    production = buildApp({ ...deps, validateResponses: false });
    validated = buildApp({ ...deps, validateResponses: true });
  });

  after(async () => {
    for (const app of [reference, production, validated]) await onvifOf(app).close();
    await closeEventStreams(cameras.list());
    await cameras.close();
    await sim.close();
  });

  const cases: Array<{ name: string; method: 'get' | 'head' | 'patch' | 'put' | 'delete' | 'post'; path: string; auth?: string; body?: object; status: number }> = [
    { name: 'a config GET', method: 'get', path: '/api/v1/cameras/cam1/system/general', status: 200 },
    { name: 'a config GET with a channel', method: 'get', path: '/api/v1/cameras/cam1/video/color?channel=1', status: 200 },
    { name: 'the large Alarm table', method: 'get', path: '/api/v1/cameras/cam1/events/alarm', status: 200 },
    { name: 'HEAD, which the document does not have', method: 'head', path: '/api/v1/cameras/cam1/system/general', status: 405 },
    { name: 'a PATCH of one field with its read-back', method: 'patch', path: '/api/v1/cameras/cam1/system/general', body: { General: { MachineName: 'fast-path' } }, status: 200 },
    { name: 'a path in upper case (express matches without case)', method: 'get', path: '/api/v1/CAMERAS/cam1/SYSTEM/General', status: 200 },
    { name: 'a trailing slash', method: 'get', path: '/api/v1/cameras/cam1/system/general/', status: 200 },
    { name: 'a percent-encoded camera id', method: 'get', path: '/api/v1/cameras/cam%31/system/general', status: 200 },
    { name: 'an unknown camera', method: 'get', path: '/api/v1/cameras/nope/system/general', status: 404 },
    { name: 'an unknown query parameter', method: 'get', path: '/api/v1/cameras/cam1/system/general?x=1', status: 400 },
    { name: 'a method the path does not have', method: 'put', path: '/api/v1/cameras/cam1/system/general', body: {}, status: 405 },
    { name: 'a role that is too low', method: 'patch', path: '/api/v1/cameras/cam1/system/general', auth: viewer, body: { General: { MachineName: 'x' } }, status: 403 },
    { name: 'an invalid body', method: 'patch', path: '/api/v1/cameras/cam1/system/general', body: { General: { MachineName: 5 } }, status: 400 },
    { name: 'no credentials', method: 'get', path: '/api/v1/cameras/cam1/system/general', auth: '', status: 401 },
    { name: 'an unknown path', method: 'get', path: '/api/v1/cameras/cam1/system/nothing-here', status: 404 },
    { name: 'a channel out of range', method: 'get', path: '/api/v1/cameras/cam1/video/color?channel=0', status: 400 },
    { name: 'a channel that is not a number', method: 'get', path: '/api/v1/cameras/cam1/video/color?channel=abc', status: 400 },
    { name: 'a fractional channel', method: 'get', path: '/api/v1/cameras/cam1/video/color?channel=1.5', status: 400 },
    { name: 'an empty channel', method: 'get', path: '/api/v1/cameras/cam1/video/color?channel=', status: 400 },
    { name: 'a channel given twice', method: 'get', path: '/api/v1/cameras/cam1/video/color?channel=1&channel=1', status: 400 },
    { name: 'a percent-encoded channel', method: 'get', path: '/api/v1/cameras/cam1/video/color?channel=%31', status: 200 },
    { name: 'a channel with a reserved character', method: 'get', path: '/api/v1/cameras/cam1/video/color?channel=1,2', status: 400 },
    { name: 'a plus sign in a channel', method: 'get', path: '/api/v1/cameras/cam1/video/color?channel=+1', status: 400 },
    { name: 'a second = in a value', method: 'get', path: '/api/v1/cameras/cam1/video/color?channel=1=1', status: 400 },
    { name: 'a bracket query key', method: 'get', path: '/api/v1/cameras/cam1/video/color?channel[a]=1', status: 400 },
    { name: 'an encoded bracket query key', method: 'get', path: '/api/v1/cameras/cam1/video/color?channel%5Ba%5D=1', status: 400 },
    { name: 'an unknown and a bad parameter', method: 'get', path: '/api/v1/cameras/cam1/video/color?zz=1&channel=0', status: 400 },
    { name: 'a bad camera id and a bad channel (every error at once)', method: 'get', path: `/api/v1/cameras/${'x'.repeat(70)}/video/color?channel=999`, status: 400 },
    { name: 'a camera id of an unknown camera', method: 'get', path: '/api/v1/cameras/other/video/color?channel=2', status: 404 },
    { name: 'a viewer on an operator-only GET', method: 'get', path: '/api/v1/cameras/cam1/users', auth: viewer, status: 403 },
    { name: 'a path parameter out of range on a POST', method: 'post', path: '/api/v1/cameras/cam1/ptz/presets/0/goto', status: 400 },
    { name: 'a path parameter that is not a number on a DELETE', method: 'delete', path: '/api/v1/cameras/cam1/ptz/presets/abc', status: 400 },
    { name: 'an enum query parameter', method: 'get', path: '/api/v1/cameras/cam1/events/nothing?channel=1', status: 404 },
  ];

  for (const c of cases) {
    it(`${c.name}: ${c.method.toUpperCase()} ${c.path} → ${c.status}, same answer without the fast lane and without response validation`, async () => {
      const answers = [];
      for (const app of [reference, validated, production]) {
        let req = request(app)[c.method](c.path);
        const auth = c.auth ?? admin;
        if (auth !== '') req = req.set('Authorization', auth);
        const res = c.body === undefined ? await req : await req.send(c.body);
        answers.push({ status: res.status, type: res.headers['content-type'], length: res.headers['content-length'], allow: res.headers.allow, body: res.text ?? '' });
      }
      assert.equal(answers[0]!.status, c.status, answers[0]!.body);
      assert.deepEqual(answers[1], answers[0]);
      assert.deepEqual(answers[2], answers[0]);
      if (c.status === 200) {
        assert.equal(answers[2]!.type, 'application/json; charset=utf-8');
        assert.equal(Number(answers[2]!.length), Buffer.byteLength(answers[2]!.body));
      }
    });
  }
});

describe('the fast lane checks every operation it takes as express-openapi-validator did', () => {
  let sim: Simulator;
  let cameras: CameraRegistry;
  let spec: LoadedSpec;
  let reference: Express;
  let production: Express;

  before(async () => {
    sim = await startSimulator({ model: 'WV-V2530LK', username: 'admin', password: 'cam-pass-Fast2' });
    const logger = createLogger('silent');
    cameras = new CameraRegistry();
    cameras.add({ id: 'cam1', baseUrl: sim.url, username: 'admin', password: 'cam-pass-Fast2', model: 'WV-V2530LK' }, logger, true);
    spec = loadSpec();
    const deps = { spec, cameras, users: new UserStore(Object.values(USERS)), logger, rateLimiter: new RateLimiter(NO_RATE_LIMITS) };
    reference = buildApp({ ...deps, validateResponses: true, fastPaths: false });
    production = buildApp({ ...deps, validateResponses: false });
  });

  after(async () => {
    for (const app of [reference, production]) await onvifOf(app).close();
    await closeEventStreams(cameras.list());
    await cameras.close();
    await sim.close();
  });

  type Param = { name: string; in: string; schema: { type: string; enum?: unknown[]; minimum?: number; pattern?: string } };
  const resolved = (p: Record<string, unknown>): Param => (typeof p.$ref === 'string' ? spec.resolveRef(p.$ref) : p) as unknown as Param;
  const good = (p: Param): string => {
    if (p.name === 'cameraId') return 'cam1';
    if (p.schema.enum) return String(p.schema.enum[0]);
    if (p.schema.type === 'integer' || p.schema.type === 'number') return String(p.schema.minimum ?? 1);
    return 'admin';
  };
  const bad = (p: Param): string[] => (p.schema.type === 'integer' || p.schema.type === 'number' ? ['abc', '0.5', '-1', '99999999'] : ['zz%20zz', 'x'.repeat(300)]);

  it('every operation of the lane: invalid path and query parameters, unknown parameters, and (GETs) valid ones, answered alike', async () => {
    const lane = spec.operations.filter((op) => op.handler === undefined && paramCheck(spec, op) !== undefined);
    assert.ok(lane.length >= 80, `only ${lane.length} operations take the fast lane`);
    let compared = 0;
    for (const op of lane) {
      const params = op.parameters.map(resolved);
      const path = (values: Record<string, string>) => spec.basePath + op.path.replace(/\{([A-Za-z0-9_]+)\}/g, (_m, name: string) => values[name] ?? good(params.find((p) => p.name === name)!));
      const query = params.filter((p) => p.in === 'query');
      const urls: string[] = [path({}) + '?zzz=1', path({ cameraId: 'x'.repeat(70) })];
      for (const p of params.filter((x) => x.in === 'path' && x.name !== 'cameraId')) for (const v of bad(p)) urls.push(path({ [p.name]: v }));
      for (const p of query) for (const v of bad(p)) urls.push(`${path({})}?${p.name}=${v}`);
      if (op.method === 'get') {
        urls.push(path({}), path({ cameraId: 'nope' }));
        if (query.length > 0) urls.push(`${path({})}?${query.map((p) => `${p.name}=${good(p)}`).join('&')}`);
      }
      for (const url of urls) {
        const answers = [];
        for (const app of [reference, production]) {
          const res = await request(app)[op.method](url).set('Authorization', admin);
          // The camera clock ticks between the two calls: its readings are compared by shape.
          answers.push({ status: res.status, type: res.headers['content-type'], body: (res.text ?? '').replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/g, '<time>') });
        }
        assert.deepEqual(answers[1], answers[0], `${op.operationId}: ${op.method.toUpperCase()} ${url}`);
        compared++;
      }
    }
    assert.ok(compared > 500, `${compared} requests compared`);
  });
});

describe('access log', () => {
  let sim: Simulator;
  let cameras: CameraRegistry;
  const apps: Express[] = [];
  const lines: string[][] = [[], []];

  before(async () => {
    sim = await startSimulator({ model: 'WV-V2530LK', username: 'admin', password: 'cam-pass-Fast3' });
    cameras = new CameraRegistry();
    cameras.add({ id: 'cam1', baseUrl: sim.url, username: 'admin', password: 'cam-pass-Fast3', model: 'WV-V2530LK' }, createLogger('silent'), true);
    const spec = loadSpec();
    for (const [i, fastPaths] of [false, true].entries()) {
      const sink = new Writable({ write(chunk: Buffer, _enc, done) { lines[i]!.push(chunk.toString('utf8')); done(); } });
      apps.push(buildApp({ spec, cameras, users: new UserStore(Object.values(USERS)), logger: createLogger('info', sink), rateLimiter: new RateLimiter(NO_RATE_LIMITS), fastPaths }));
    }
  });

  after(async () => {
    for (const app of apps) await onvifOf(app).close();
    await cameras.close();
    await sim.close();
  });

  it('logs the whole path of an answered API request, without its query string, with and without the fast lane (express cut it to the router\'s part)', async () => {
    const seen = [];
    for (const [i, app] of apps.entries()) {
      assert.equal((await request(app).get('/api/v1/cameras/cam1/video/color?channel=1').set('Authorization', admin)).status, 200);
      assert.equal((await request(app).patch('/api/v1/cameras/cam1/system/general').set('Authorization', admin).send({ General: { MachineName: 'log-path' } })).status, 200);
      const entries = lines[i]!.map((l) => JSON.parse(l) as { msg: string; path: string; method: string; status: number; user?: string }).filter((e) => e.msg === 'request');
      seen.push(entries.map(({ method, path, status, user }) => ({ method, path, status, user })));
    }
    assert.deepEqual(seen[0], [
      { method: 'GET', path: '/api/v1/cameras/cam1/video/color', status: 200, user: 'admin' },
      { method: 'PATCH', path: '/api/v1/cameras/cam1/system/general', status: 200, user: 'admin' },
    ]);
    assert.deepEqual(seen[1], seen[0]);
  });
});
