// The ONVIF router with a test service: dispatch by the Body's qualified name on any path, the
// pre-auth set, HTTP Digest and UsernameToken, roles, faults for every error, SOAP 1.1 answers to
// 1.1 requests, Content-Length and no chunking, XXE and prototype-named elements refused.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { NS, OnvifFault } from '../adapters/onvif/soap.ts';
import type { OnvifService } from '../adapters/onvif/service.ts';
import { el } from '../adapters/onvif/xml.ts';
import { envelope, op, readAnswer, soapCall } from './onvif-client.ts';
import { RateLimiter } from '../gateway/rate-limit.ts';
import { basic, startStack, USERS, type Stack } from './stack.ts';

const TEST_NS = 'urn:camgate:test';
let slowAborted = 0;
const testService: OnvifService = {
  key: 'device',
  ns: TEST_NS,
  path: 'test_service',
  version: { major: 1, minor: 0 },
  available: async () => true,
  capabilities: async () => el('tt:Capabilities'),
  operations: [
    { name: 'Open', access: 'preauth', handle: async (_req, ctx) => el('tds:OpenResponse', ctx.principal?.name ?? 'anonymous') },
    { name: 'Read', access: 'viewer', handle: async (req, ctx) => el('tds:ReadResponse', [el('tt:User', ctx.principal!.name), el('tt:Echo', req.children[0]?.text), el('tt:Origin', ctx.xaddr('media'))]) },
    { name: 'Write', access: 'admin', handle: async () => el('tds:WriteResponse') },
    { name: 'Camera', access: 'viewer', handle: async (_req, ctx) => el('tds:CameraResponse', (await ctx.entry.camera.call('/cgi-bin/magicBox.cgi', [['action', 'getSerialNo']])).trim()) },
    { name: 'Bad', access: 'viewer', handle: async () => { throw new OnvifFault('Sender', ['ter:InvalidArgVal', 'ter:NoProfile'], 'no profile x'); } },
    { name: 'Crash', access: 'viewer', handle: async () => { throw new Error('secret internals at /srv/x.ts:12'); } },
    {
      name: 'Slow', access: 'viewer', handle: (_req, ctx) => new Promise((resolve) => {
        ctx.signal.addEventListener('abort', () => { slowAborted++; resolve(el('tds:SlowResponse')); });
      }),
    },
  ],
};

const call = (name: string, inner = '') => op('t', TEST_NS, name, inner);

describe('ONVIF router', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ onvifServices: [testService] });
  });
  after(async () => {
    await stack.close();
  });

  it('serves the pre-auth set without credentials, on the contract paths', async () => {
    for (const path of ['/onvif/device_service', '/onvif/cam1/device_service', '/onvif/cam1/anything']) {
      const a = await soapCall(stack.app, call('Open'), { path });
      assert.equal(a.status, 200, path);
      assert.equal(a.body.local, 'OpenResponse');
      assert.equal(a.body.text, 'anonymous');
    }
  });

  it('answers with Content-Length, never chunked, with our own content type', async () => {
    const res = await request(stack.app).post('/onvif/cam1/device_service').set('Content-Type', 'application/soap+xml; charset=utf-8;').send(envelope(call('Open')));
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/soap+xml; charset=utf-8');
    assert.equal(res.headers['content-length'], String(Buffer.byteLength(res.text)));
    assert.equal(res.headers['transfer-encoding'], undefined);
    assert.equal(res.headers['x-powered-by'], undefined);
  });

  it('answers SOAP 1.1 to a 1.1 request, whatever the Content-Type says', async () => {
    const res = await request(stack.app).post('/onvif/cam1/device_service').set('Content-Type', 'application/xml').send(envelope(call('Open'), { version: '1.1' }));
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type']!, /^text\/xml/);
    assert.match(res.text, new RegExp(NS.soap11.replaceAll('.', '\\.')));
  });

  it('needs credentials for the rest: 401 with a Digest challenge and ter:NotAuthorized', async () => {
    const a = await soapCall(stack.app, call('Read'));
    assert.equal(a.status, 401);
    assert.match(String(a.headers['www-authenticate']), /^Digest realm="camgate", qop="auth"/);
    assert.deepEqual(a.subcodes, ['ter:NotAuthorized']);
    assert.equal(stack.sim.stats.requests, 0);
  });

  it('accepts a UsernameToken and refuses a wrong one, a replayed one and a skewed one with 400 ter:NotAuthorized', async () => {
    const ok = await soapCall(stack.app, call('Read', '<t:X>hi</t:X>'), { user: USERS.viewer });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.children[0]!.text, USERS.viewer.name);
    assert.equal(ok.body.children[1]!.text, 'hi');
    const wrong = await soapCall(stack.app, call('Read'), { user: { name: USERS.viewer.name, password: 'nope' } });
    assert.equal(wrong.status, 400);
    assert.deepEqual(wrong.subcodes, ['ter:NotAuthorized']);
    assert.ok(!wrong.text.includes('nope'));
    const nonce = Buffer.from('0123456789abcdef');
    const created = new Date().toISOString();
    assert.equal((await soapCall(stack.app, call('Read'), { user: USERS.viewer, nonce, created })).status, 200);
    const replay = await soapCall(stack.app, call('Read'), { user: USERS.viewer, nonce, created });
    assert.equal(replay.status, 400);
    assert.deepEqual(replay.subcodes, ['ter:NotAuthorized']);
    const skewed = await soapCall(stack.app, call('Read'), { user: USERS.viewer, created: new Date(Date.now() - 6 * 60_000).toISOString() });
    assert.deepEqual(skewed.subcodes, ['ter:NotAuthorized']);
  });

  it('lets a pre-auth operation through even when the token fails (a client with a wrong clock)', async () => {
    const a = await soapCall(stack.app, call('Open'), { user: USERS.viewer, created: '2001-01-01T00:00:00Z' });
    assert.equal(a.status, 200);
    assert.equal(a.body.text, 'anonymous');
  });

  it('accepts HTTP Digest (challenge, then answer) like a camera', async () => {
    const body = envelope(call('Read'));
    const first = await request(stack.app).post('/onvif/cam1/device_service').set('Content-Type', 'application/soap+xml').send(body);
    const nonce = /nonce="([^"]+)"/.exec(String(first.headers['www-authenticate']))![1]!;
    const md5 = (s: string) => createHash('md5').update(s).digest('hex');
    const uri = '/onvif/cam1/device_service';
    const ha1 = md5(`${USERS.operator.name}:camgate:${USERS.operator.password}`);
    const response = md5(`${ha1}:${nonce}:00000001:c1:auth:${md5(`POST:${uri}`)}`);
    const auth = `Digest username="${USERS.operator.name}", realm="camgate", nonce="${nonce}", uri="${uri}", qop=auth, nc=00000001, cnonce="c1", response="${response}"`;
    const res = await request(stack.app).post(uri).set('Content-Type', 'application/soap+xml').set('Authorization', auth).send(body);
    assert.equal(res.status, 200);
    assert.equal(readAnswer(res.status, res.headers, res.text).body.children[0]!.text, USERS.operator.name);
    const again = await request(stack.app).post(uri).set('Content-Type', 'application/soap+xml').set('Authorization', auth).send(body);
    assert.equal(again.status, 401, 'the same nc twice is a replay');
    assert.match(String(again.headers['www-authenticate']), /stale=true/);
  });

  it('enforces roles: a viewer cannot call an admin operation', async () => {
    const a = await soapCall(stack.app, call('Write'), { user: USERS.viewer });
    assert.equal(a.status, 400);
    assert.deepEqual(a.subcodes, ['ter:NotAuthorized']);
    assert.equal((await soapCall(stack.app, call('Write'), { user: USERS.admin })).status, 200);
  });

  it('builds XAddrs from the request Host, and refuses a Host that is not a host', async () => {
    const res = await request(stack.app).post('/onvif/cam1/x').set('Host', 'gw.example:8080').set('Content-Type', 'application/soap+xml').send(envelope(call('Read'), { user: USERS.viewer }));
    assert.equal(readAnswer(res.status, res.headers, res.text).body.children[2]!.text, 'http://gw.example:8080/onvif/cam1/media_service');
    const evil = await request(stack.app).post('/onvif/cam1/x').set('Host', 'a"/><x y="').set('Content-Type', 'application/soap+xml').send(envelope(call('Read'), { user: USERS.viewer }));
    assert.match(readAnswer(evil.status, evil.headers, evil.text).body.children[2]!.text, /^http:\/\/127\.0\.0\.1:\d+\/onvif\/cam1\/media_service$/);
  });

  it('reaches the camera through the camera layer', async () => {
    const a = await soapCall(stack.app, call('Camera'), { user: USERS.viewer });
    assert.equal(a.status, 200);
    assert.match(a.body.text, /^sn=/);
  });

  it('turns every error into a SOAP Fault: handler faults, unknown operations, unknown cameras, crashes without internals', async () => {
    const bad = await soapCall(stack.app, call('Bad'), { user: USERS.viewer });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.subcodes, ['ter:InvalidArgVal', 'ter:NoProfile']);
    const unknown = await soapCall(stack.app, call('Nope'), { user: USERS.viewer });
    assert.equal(unknown.status, 500);
    assert.deepEqual(unknown.subcodes, ['ter:ActionNotSupported']);
    const wrongNs = await soapCall(stack.app, op('t', 'urn:other', 'Open'));
    assert.deepEqual(wrongNs.subcodes, ['ter:ActionNotSupported'], 'dispatch is by namespace and name');
    const noCamera = await soapCall(stack.app, call('Open'), { path: '/onvif/cam9/device_service' });
    assert.equal(noCamera.status, 404);
    const crash = await soapCall(stack.app, call('Crash'), { user: USERS.viewer });
    assert.equal(crash.status, 500);
    assert.equal(crash.body.local, 'Fault');
    assert.ok(!crash.text.includes('secret internals') && !crash.text.includes('.ts'));
    const get = await request(stack.app).get('/onvif/cam1/device_service');
    assert.equal(get.status, 405);
    assert.equal(readAnswer(get.status, get.headers, get.text).body.local, 'Fault');
  });

  it('refuses malformed XML and DOCTYPE with ter:WellFormed, and the XXE canary gets no connection', async () => {
    let canaryHits = 0;
    const canary: Server = createServer((_req, res) => { canaryHits++; res.end('x'); });
    await new Promise<void>((r) => canary.listen(0, '127.0.0.1', () => r()));
    const port = (canary.address() as AddressInfo).port;
    try {
      const xxe = `<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY x SYSTEM "http://127.0.0.1:${port}/canary">]><s:Envelope xmlns:s="${NS.soap12}"><s:Body><t:Open xmlns:t="${TEST_NS}">&x;</t:Open></s:Body></s:Envelope>`;
      for (const body of [xxe, '<s:Envelope', '<a><b></a>', '']) {
        const res = await request(stack.app).post('/onvif/cam1/device_service').set('Content-Type', 'application/soap+xml').send(body);
        assert.equal(res.status, 400, body);
        assert.deepEqual(readAnswer(res.status, res.headers, res.text).subcodes, ['ter:WellFormed']);
      }
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(canaryHits, 0);
    } finally {
      canary.close();
    }
  });

  it('answers prototype-named elements with a fault and stays alive', async () => {
    for (const body of [
      `<s:Envelope xmlns:s="${NS.soap12}"><s:Body><__proto__><polluted>1</polluted></__proto__></s:Body></s:Envelope>`,
      `<s:Envelope xmlns:s="${NS.soap12}"><s:Body><t:constructor xmlns:t="${TEST_NS}"/></s:Body></s:Envelope>`,
      `<s:Envelope xmlns:s="${NS.soap12}"><s:Body><t:Open xmlns:t="${TEST_NS}"><prototype x="1"/></t:Open></s:Body></s:Envelope>`,
    ]) {
      const res = await request(stack.app).post('/onvif/cam1/device_service').set('Content-Type', 'application/soap+xml').send(body);
      assert.ok(res.status === 400 || res.status === 500, String(res.status));
      assert.equal(readAnswer(res.status, res.headers, res.text).body.local, 'Fault');
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal((await soapCall(stack.app, call('Open'))).status, 200);
  });

  it('caps the body, also after gzip (a gzip bomb gets 413 fast)', async () => {
    const { gzipSync } = await import('node:zlib');
    const bomb = gzipSync(Buffer.alloc(50 * 1024 * 1024, 0x20));
    const started = performance.now();
    const res = await request(stack.app).post('/onvif/cam1/device_service').set('Content-Type', 'application/soap+xml').set('Content-Encoding', 'gzip').send(bomb);
    assert.equal(res.status, 413);
    assert.equal(readAnswer(res.status, res.headers, res.text).body.local, 'Fault');
    assert.ok(performance.now() - started < 1000);
  });

  it('ends the work of a client that leaves', async () => {
    const before = slowAborted;
    // A listener of our own: an aborted supertest request would leave its server open.
    const server = createServer(stack.app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const abort = new AbortController();
      const { port } = server.address() as AddressInfo;
      const pending = fetch(`http://127.0.0.1:${port}/onvif/cam1/device_service`, {
        method: 'POST', headers: { 'content-type': 'application/soap+xml' }, body: envelope(call('Slow'), { user: USERS.viewer }), signal: abort.signal,
      }).then(() => undefined, () => undefined);
      await new Promise((r) => setTimeout(r, 200));
      abort.abort();
      await pending;
      for (let i = 0; i < 50 && slowAborted === before; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(slowAborted, before + 1);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe('ONVIF tokens and the camera clock', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack.close();
  });

  it('lets in a client that signs with the camera time GetSystemDateAndTime reported, even when the camera clock is 2 h off', async () => {
    const camera = stack.cameras.get('cam1')!.camera;
    const wall = (await camera.call('/cgi-bin/global.cgi', [['action', 'getCurrentTime']])).trim().slice('result='.length);
    const [d, t] = wall.split(' ');
    const [y, mo, da] = d!.split('-').map(Number);
    const [h, mi, se] = t!.split(':').map(Number);
    const ahead = new Date(Date.UTC(y!, mo! - 1, da!, h!, mi!, se!) + 2 * 3_600_000);
    const text = `${ahead.getUTCFullYear()}-${ahead.getUTCMonth() + 1}-${ahead.getUTCDate()} ${String(ahead.getUTCHours()).padStart(2, '0')}:${String(ahead.getUTCMinutes()).padStart(2, '0')}:${String(ahead.getUTCSeconds()).padStart(2, '0')}`;
    await camera.call('/cgi-bin/global.cgi', [['action', 'setCurrentTime'], ['time', text]]);
    const sdt = await soapCall(stack.app, op('tds', NS.tds, 'GetSystemDateAndTime'));
    assert.equal(sdt.status, 200);
    const utc = (name: string) => Number(sdt.text.match(new RegExp(`<tt:UTCDateTime>.*?<tt:${name}>(\\d+)</tt:${name}>`))![1]);
    const deviceUtc = Date.UTC(utc('Year'), utc('Month') - 1, utc('Day'), utc('Hour'), utc('Minute'), utc('Second'));
    assert.ok(Math.abs(deviceUtc - Date.now() - 2 * 3_600_000) < 10_000, 'the device reports its own (wrong) clock');
    const signedWithDevice = await soapCall(stack.app, op('tds', NS.tds, 'GetDeviceInformation'), { user: USERS.viewer, created: new Date(deviceUtc).toISOString() });
    assert.equal(signedWithDevice.status, 200, signedWithDevice.text);
    const signedWithOurs = await soapCall(stack.app, op('tds', NS.tds, 'GetDeviceInformation'), { user: USERS.viewer });
    assert.equal(signedWithOurs.status, 200, 'a client with a good clock of its own still gets in');
    const between = await soapCall(stack.app, op('tds', NS.tds, 'GetDeviceInformation'), { user: USERS.viewer, created: new Date(Date.now() + 3_600_000).toISOString() });
    assert.deepEqual(between.subcodes, ['ter:NotAuthorized']);
  });
});

describe('the ONVIF snapshot URI and the snapshot rate limit', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ rateLimiter: new RateLimiter({ snapshot: { perUser: { burst: 2, perMinute: 1 }, perCamera: null } }) });
  });
  after(async () => {
    await stack.close();
  });

  it('takes from the same snapshot budget as REST: 429 with Retry-After and no camera request when spent', async () => {
    const target = '/onvif/cam1/snapshot?channel=1';
    for (let i = 0; i < 2; i++) assert.equal((await request(stack.app).get(target).set('Authorization', basic(USERS.viewer))).status, 200);
    const before = stack.sim.requestLog.length;
    const over = await request(stack.app).get(target).set('Authorization', basic(USERS.viewer));
    assert.equal(over.status, 429);
    assert.ok(Number(over.headers['retry-after']) >= 1);
    assert.equal(stack.sim.requestLog.length, before);
    const rest = await request(stack.app).get('/api/v1/cameras/cam1/snapshot').set('Authorization', basic(USERS.viewer));
    assert.equal(rest.status, 429, 'REST shares the bucket');
  });
});
