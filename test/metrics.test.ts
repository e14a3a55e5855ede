// /metrics: Prometheus text with the gateway's requests, its problems and each camera's client state.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import request from 'supertest';
import { basic, startStack, TOKEN, USERS, type Stack } from './stack.ts';

let stack: Stack;
before(async () => {
  stack = await startStack();
});
after(async () => {
  await stack.close();
});

function value(text: string, line: string): number | undefined {
  const found = text.split('\n').find((l) => l.startsWith(line + ' '));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

it('counts requests by operation, problems by code, and reads each camera client', async () => {
  const admin = basic(USERS.admin);
  for (let i = 0; i < 3; i++) await request(stack.app).get('/api/v1/cameras/cam1/system/general').set('Authorization', admin).expect(200);
  await request(stack.app).get('/api/v1/cameras/cam1/system/general?bogus=1').set('Authorization', admin).expect(400);
  await request(stack.app).get('/api/v1/cameras/cam1/system/general').expect(401);
  await request(stack.app).get('/api/v1/cameras/nosuchcam/system/general').set('Authorization', admin).expect(404);

  const unauthenticated = await request(stack.app).get('/metrics');
  assert.equal(unauthenticated.status, 401);
  const res = await request(stack.app).get('/metrics').set('Authorization', `Bearer ${TOKEN.token}`);
  assert.equal(res.status, 200);
  assert.match(String(res.headers['content-type']), /^text\/plain/);
  const text = res.text;
  assert.equal(value(text, 'camgate_http_requests_total{operation="getGeneralConfig",method="GET",status="200"}'), 3);
  assert.equal(value(text, 'camgate_http_requests_total{operation="getGeneralConfig",method="GET",status="400"}'), 1);
  assert.equal(value(text, 'camgate_problems_total{code="VALIDATION_FAILED"}'), 1);
  assert.equal(value(text, 'camgate_problems_total{code="UNAUTHENTICATED"}'), 2);
  assert.equal(value(text, 'camgate_http_request_duration_seconds_count{operation="getGeneralConfig"}'), 5, 'the unknown camera too');
  // One camera round trip per call after the first (the 401 challenge), as counted by the client.
  assert.equal(value(text, 'camgate_camera_requests_total{camera="cam1"}'), 4);
  assert.equal(value(text, 'camgate_camera_auth_challenges_total{camera="cam1"}'), 1);
  assert.equal(value(text, 'camgate_camera_breaker_state{camera="cam1"}'), 0);
  assert.equal(value(text, 'camgate_camera_in_flight{camera="cam1"}'), 0);
  assert.equal(value(text, 'camgate_camera_queue_depth{camera="cam1"}'), 0);
  // Per camera: latency of its API requests and its problems by code; unknown ids get no series.
  assert.equal(value(text, 'camgate_camera_api_request_duration_seconds_count{camera="cam1"}'), 4);
  assert.equal(value(text, 'camgate_camera_problems_total{camera="cam1",code="VALIDATION_FAILED"}'), 1);
  assert.ok(!text.includes('camera="nosuchcam"'));
  assert.ok(value(text, 'camgate_process_resident_memory_bytes')! > 0);
  assert.ok(!text.includes('cam-pass-Secret9'));
});

it('shows calls in flight and waiting while the camera is slow', async () => {
  stack.sim.faults.latencyMs = 300;
  const slow = Array.from({ length: 6 }, () => request(stack.app).get('/api/v1/cameras/cam1/system/general').set('Authorization', basic(USERS.admin)));
  const pending = Promise.all(slow.map((r) => r.then((x) => x)));
  await new Promise((r) => setTimeout(r, 150));
  const text = (await request(stack.app).get('/metrics').set('Authorization', `Bearer ${TOKEN.token}`)).text;
  stack.sim.faults.latencyMs = 0;
  await pending;
  assert.equal(value(text, 'camgate_camera_in_flight{camera="cam1"}'), 3, 'three in flight, the scheduler limit');
  assert.equal(value(text, 'camgate_camera_queue_depth{camera="cam1"}'), 3);
});

it('shows MJPEG viewers, event consumers, the event stream up or down and the last event age per camera', async () => {
  const { createServer } = await import('node:http');
  const server = createServer(stack.app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const base = `http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}/api/v1/cameras/cam1`;
  const abort = new AbortController();
  const headers = { authorization: basic(USERS.admin) };
  try {
    const before = (await request(stack.app).get('/metrics').set('Authorization', `Bearer ${TOKEN.token}`)).text;
    assert.equal(value(before, 'camgate_camera_mjpeg_viewers{camera="cam1"}'), 0);
    assert.equal(value(before, 'camgate_camera_event_stream_up{camera="cam1"}'), 0);
    assert.equal(value(before, 'camgate_camera_last_event_age_seconds{camera="cam1"}'), -1);
    const mjpeg = await fetch(`${base}/video/mjpeg`, { headers, signal: abort.signal });
    const sse = await fetch(`${base}/events/stream`, { headers, signal: abort.signal });
    assert.equal(mjpeg.status, 200);
    assert.equal(sse.status, 200);
    let text = '';
    for (let i = 0; i < 100; i++) {
      text = (await request(stack.app).get('/metrics').set('Authorization', `Bearer ${TOKEN.token}`)).text;
      if (value(text, 'camgate_camera_event_stream_up{camera="cam1"}') === 1) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(value(text, 'camgate_camera_event_stream_up{camera="cam1"}'), 1);
    assert.equal(value(text, 'camgate_camera_event_subscribers{camera="cam1"}'), 1);
    assert.equal(value(text, 'camgate_camera_mjpeg_viewers{camera="cam1"}'), 1);
    stack.sim.raiseEvent('VideoMotion', 'Start', 0);
    let age: number | undefined = -1;
    for (let i = 0; i < 100 && age === -1; i++) {
      await new Promise((r) => setTimeout(r, 50));
      age = value((await request(stack.app).get('/metrics').set('Authorization', `Bearer ${TOKEN.token}`)).text, 'camgate_camera_last_event_age_seconds{camera="cam1"}');
    }
    assert.ok(age !== undefined && age >= 0 && age < 5, `last event age ${age}`);
  } finally {
    abort.abort();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
