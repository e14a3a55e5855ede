// The request fast paths of bench issue 7 answer exactly what express did: the route index
// (gateway/route-index.ts) against express's own routing, and sendJson (adapters/rest/translator.ts,
// used when responses are not validated, as in production) against res.json (used when they are).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import type { Express } from 'express';
import { buildApp, onvifOf } from '../gateway/app.ts';
import { UserStore } from '../gateway/auth.ts';
import { CameraRegistry } from '../gateway/cameras.ts';
import { createLogger } from '../gateway/logger.ts';
import { loadSpec } from '../gateway/spec.ts';
import { NO_RATE_LIMITS, RateLimiter } from '../gateway/rate-limit.ts';
import { closeAll as closeEventStreams } from '../adapters/events/hub.ts';
import { startSimulator, type Simulator } from '../simulator/server.ts';
import { basic, USERS } from './stack.ts';

const admin = basic(USERS.admin);
const viewer = basic(USERS.viewer);

describe('fast paths answer as express did', () => {
  let sim: Simulator;
  let cameras: CameraRegistry;
  let production: Express;
  let validated: Express;

  before(async () => {
    sim = await startSimulator({ model: 'WV-V2530LK', username: 'admin', password: 'cam-pass-Fast1' });
    const logger = createLogger('silent');
    cameras = new CameraRegistry();
    cameras.add({ id: 'cam1', baseUrl: sim.url, username: 'admin', password: 'cam-pass-Fast1', model: 'WV-V2530LK' }, logger, true);
    const spec = loadSpec();
    const deps = { spec, cameras, users: new UserStore(Object.values(USERS)), logger, rateLimiter: new RateLimiter(NO_RATE_LIMITS) };
    production = buildApp({ ...deps, validateResponses: false });
    validated = buildApp({ ...deps, validateResponses: true });
  });

  after(async () => {
    for (const app of [production, validated]) await onvifOf(app).close();
    await closeEventStreams(cameras.list());
    await cameras.close();
    await sim.close();
  });

  const cases: Array<{ name: string; method: 'get' | 'head' | 'patch' | 'put' | 'delete'; path: string; auth?: string; body?: object; status: number }> = [
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
  ];

  for (const c of cases) {
    it(`${c.name}: ${c.method.toUpperCase()} ${c.path} → ${c.status}, same answer with and without response validation`, async () => {
      const answers = [];
      for (const app of [validated, production]) {
        let req = request(app)[c.method](c.path);
        const auth = c.auth ?? admin;
        if (auth !== '') req = req.set('Authorization', auth);
        const res = c.body === undefined ? await req : await req.send(c.body);
        answers.push({ status: res.status, type: res.headers['content-type'], length: res.headers['content-length'], allow: res.headers.allow, body: res.text ?? '' });
      }
      assert.equal(answers[0]!.status, c.status, answers[0]!.body);
      assert.deepEqual(answers[1], answers[0]);
      if (c.status === 200) {
        assert.equal(answers[1]!.type, 'application/json; charset=utf-8');
        assert.equal(Number(answers[1]!.length), Buffer.byteLength(answers[1]!.body));
      }
    });
  }
});
