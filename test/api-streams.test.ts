// Streams, audio, RTSP URLs and downloads through the gateway, against the simulator over HTTP.
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { DavParser, isH264, type DavItem } from '../adapters/media/dav.ts';
import { SYNTHETIC_PPS, SYNTHETIC_SPS } from '../simulator/streams.ts';
import { basic, startStack, USERS, type Stack } from './stack.ts';

const admin = basic(USERS.admin);
const operator = basic(USERS.operator);
const viewer = basic(USERS.viewer);
const CAM = '/api/v1/cameras/cam1';

async function until(cond: () => boolean, ms = 3_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('streams, audio, RTSP URLs and downloads', () => {
  let stack: Stack;
  let server: Server;
  let base: string;

  before(async () => {
    stack = await startStack();
    server = stack.app.listen(0, '127.0.0.1');
    await new Promise<void>((r) => server.once('listening', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await stack.close();
  });

  /** Opens a GET, reads until `enough` says so, then leaves (destroys the socket). */
  function readSome(path: string, auth: string, enough: (bytes: Buffer, res: IncomingMessage) => boolean): Promise<{ res: IncomingMessage; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(base + path, { headers: { authorization: auth } }, (res) => {
        const parts: Buffer[] = [];
        let done = false;
        const finish = (): void => {
          if (done) return;
          done = true;
          req.destroy();
          resolve({ res, body: Buffer.concat(parts) });
        };
        res.on('data', (c: Buffer) => {
          parts.push(c);
          if (enough(Buffer.concat(parts), res)) finish();
        });
        res.on('end', finish);
        res.on('error', () => finish());
      });
      req.on('error', reject);
      req.end();
    });
  }

  // ---------------------------------------------------------------- RTSP URLs

  describe('RTSP URLs', () => {
    it('live: the camera address and RTSP port, the channel and subtype, no credentials', async () => {
      stack.sim.setConfigValue('table.RTSP.Port', '8554');
      try {
        const res = await request(stack.app).get(`${CAM}/rtsp-urls/live?channel=1&subtype=1`).set('Authorization', viewer);
        assert.equal(res.status, 200, res.text);
        assert.equal(res.body.url, 'rtsp://127.0.0.1:8554/cam/realmonitor?channel=1&subtype=1');
        assert.doesNotMatch(res.text, /@|cam-pass|admin:/);
        assert.equal(res.body.rtspEnabled, true);
      } finally {
        stack.sim.setConfigValue('table.RTSP.Port', '554');
      }
    });

    it('live: defaults to channel 1, main stream', async () => {
      const res = await request(stack.app).get(`${CAM}/rtsp-urls/live`).set('Authorization', viewer);
      assert.equal(res.body.url, 'rtsp://127.0.0.1:554/cam/realmonitor?channel=1&subtype=0');
    });

    it('playback: ISO times in the camera URL form', async () => {
      const res = await request(stack.app)
        .get(`${CAM}/rtsp-urls/playback?channel=1&startTime=2012-09-15T12:37:05&endTime=2012-09-15T18:34:14`)
        .set('Authorization', viewer);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.url, 'rtsp://127.0.0.1:554/cam/playback?channel=1&starttime=2012_09_15_12_37_05&endtime=2012_09_15_18_34_14');
    });

    it('playback: refuses an end before the start and an impossible date with 400', async () => {
      const a = await request(stack.app).get(`${CAM}/rtsp-urls/playback?startTime=2012-09-15T12:37:05&endTime=2012-09-15T12:00:00`).set('Authorization', viewer);
      assert.equal(a.status, 400);
      assert.equal(a.body.errors[0].pointer, '/query/endTime');
      const b = await request(stack.app).get(`${CAM}/rtsp-urls/playback?startTime=2012-02-30T12:37:05&endTime=2012-03-15T12:00:00`).set('Authorization', viewer);
      assert.equal(b.status, 400);
    });

    it('file: the vendor example path, and no path outside /mnt or with ..', async () => {
      const path = '/mnt/sd/2015-09-16/001/mp4/20/20.32.08-20.32.28[M][0@0][0].mp4';
      const res = await request(stack.app).get(`${CAM}/rtsp-urls/file?path=${encodeURIComponent(path)}`).set('Authorization', viewer);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.url, `rtsp://127.0.0.1:554/${path}`);
      for (const bad of ['/etc/passwd', '/mnt/sd/../../etc/passwd', '/mnt/sd/a b', '/mnt/sd/x?y=1']) {
        const r = await request(stack.app).get(`${CAM}/rtsp-urls/file?path=${encodeURIComponent(bad)}`).set('Authorization', viewer);
        assert.equal(r.status, 400, bad);
      }
    });
  });

  // ---------------------------------------------------------------- §7 streams

  describe('live stream', () => {
    it('format=h264 hands out the H.264 elementary stream with the synthetic NAL units', async () => {
      const { res, body } = await readSome(`${CAM}/video/stream?format=h264`, viewer, (b) => b.length > 600);
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['content-type'], 'video/h264');
      assert.deepEqual(body.subarray(0, SYNTHETIC_SPS.length), SYNTHETIC_SPS);
      assert.ok(body.includes(SYNTHETIC_PPS));
      assert.ok(body.includes(Buffer.from([0, 0, 0, 1, 0x65])), 'an IDR slice');
      assert.ok(body.includes(Buffer.from([0, 0, 0, 1, 0x41])), 'a non-IDR slice');
      assert.equal(body.indexOf('DH'), -1, 'no packet headers left');
    });

    it('format=dav relays the packets unchanged (parseable, video and audio)', async () => {
      const { res, body } = await readSome(`${CAM}/video/stream?channel=1&subtype=2`, viewer, (b) => b.length > 2_000);
      assert.equal(res.headers['content-type'], 'application/octet-stream');
      const items: DavItem[] = new DavParser().push(body);
      const packets = items.flatMap((i) => (i.kind === 'packet' ? [i.packet] : []));
      assert.ok(packets.length >= 3);
      assert.equal(items[0]!.kind, 'packet');
      assert.ok(packets.some(isH264));
      const video = packets[0]!.extensions.find((e) => e.kind === 'video');
      assert.deepEqual(video && [video.width, video.height], [320, 180]);
      assert.ok(packets.some((p) => p.type === 'audio'));
    });

    it('format=metadata gives one JSON line per packet with the packet fields', async () => {
      const { res, body } = await readSome(`${CAM}/video/stream?format=metadata`, viewer, (b) => b.toString().split('\n').length > 4);
      assert.equal(res.headers['content-type'], 'application/x-ndjson');
      const lines = body.toString().split('\n').slice(0, 4).map((l) => JSON.parse(l) as Record<string, unknown>);
      const first = lines[0]!;
      for (const key of ['type', 'channel', 'sequence', 'utc', 'utcMs', 'time', 'length', 'payloadLength', 'extensions']) assert.ok(key in first, key);
      assert.equal(first.type, 'video');
      assert.equal(first.channel, 1);
      const kinds = (first.extensions as Array<{ kind: string }>).map((e) => e.kind);
      assert.deepEqual(kinds, ['video', 'title', 'timeZone']);
      assert.deepEqual(lines.map((l) => l.sequence), [0, 1, 2, 3]);
    });

    it('a client that leaves closes the camera stream', async () => {
      const before = stack.sim.mediaStreams().open;
      await readSome(`${CAM}/video/stream`, viewer, (b) => b.length > 100);
      await until(() => stack.sim.mediaStreams().open === before, 2_000);
    });

    it('does not hold a request slot: camera calls go on while streams run', async () => {
      const open = await Promise.all([0, 1, 2, 3].map(() => new Promise<IncomingMessage>((resolve, reject) => {
        httpRequest(`${base}${CAM}/video/stream`, { headers: { authorization: viewer } }, resolve).on('error', reject).end();
      })));
      try {
        const res = await request(stack.app).get(`${CAM}/rtsp-urls/live`).set('Authorization', viewer);
        assert.equal(res.status, 200);
      } finally {
        for (const r of open) r.destroy();
      }
      await until(() => stack.sim.mediaStreams().open === 0, 2_000);
    });

    it('refuses a channel the camera does not have (the camera says why)', async () => {
      const res = await request(stack.app).get(`${CAM}/video/stream?channel=2`).set('Authorization', viewer);
      assert.equal(res.status, 422);
      assert.equal(res.body.code, 'CAMERA_REJECTED');
    });
  });

  describe('playback stream and control', () => {
    it('streams the recording, hands the stream id in a header, and the stream ends at endTime', async () => {
      const res = await request(stack.app)
        .get(`${CAM}/recordings/stream?startTime=2012-10-08T13:00:01&endTime=2012-10-08T13:00:02&format=metadata`)
        .set('Authorization', viewer);
      assert.equal(res.status, 200);
      assert.match(String(res.headers['camgate-stream-id']), /^\d+$/);
      const lines = res.text.trim().split('\n').map((l) => JSON.parse(l) as { type: string; time: string });
      assert.equal(lines.length, 10);
      assert.equal(lines[0]!.time, '2012-10-08T13:00:01.000Z');
      assert.ok(lines.every((l) => l.type === 'video'));
    });

    it('control: play answers the operateId that the following video packets carry; cancel ends', async () => {
      let streamId = '';
      const got = readSome(
        `${CAM}/recordings/stream?startTime=2012-10-08T13:00:01&endTime=2012-10-08T14:00:01&format=metadata`,
        viewer,
        (b, res) => {
          streamId = String(res.headers['camgate-stream-id']);
          return /"operateId":1\b/.test(b.toString());
        },
      );
      await until(() => streamId !== '');
      const play = await request(stack.app).post(`${CAM}/recordings/stream/control`).set('Authorization', operator)
        .send({ streamId: Number(streamId), cmd: 'play', speed: 2 });
      assert.equal(play.status, 200, play.text);
      assert.deepEqual(play.body, { operateId: 1 });
      const { body } = await got;
      assert.match(body.toString(), /"operateId":1/);
      const pause = await request(stack.app).post(`${CAM}/recordings/stream/control`).set('Authorization', operator).send({ streamId: Number(streamId), cmd: 'pause' });
      // The stream may already be gone (the reader left): the camera then refuses the id.
      assert.ok(pause.status === 200 || pause.status === 422, pause.text);
    });

    it('control: speed goes with play only; a viewer may not control', async () => {
      const a = await request(stack.app).post(`${CAM}/recordings/stream/control`).set('Authorization', operator).send({ streamId: 0, cmd: 'pause', speed: 2 });
      assert.equal(a.status, 400);
      const b = await request(stack.app).post(`${CAM}/recordings/stream/control`).set('Authorization', viewer).send({ streamId: 0, cmd: 'pause' });
      assert.equal(b.status, 403);
    });

    it('answers 501 on a model without storage', async () => {
      const small = await startStack({ model: 'WV-V1330LK' });
      try {
        const res = await request(small.app).get(`${CAM}/recordings/stream?startTime=2012-10-08T13:00:01&endTime=2012-10-08T13:00:02`).set('Authorization', viewer);
        assert.equal(res.status, 501);
        const url = await request(small.app).get(`${CAM}/rtsp-urls/playback?startTime=2012-10-08T13:00:01&endTime=2012-10-08T13:00:02`).set('Authorization', viewer);
        assert.equal(url.status, 501);
        const audio = await request(small.app).get(`${CAM}/audio/stream`).set('Authorization', viewer);
        assert.equal(audio.status, 501);
      } finally {
        await small.close();
      }
    });
  });

  // ---------------------------------------------------------------- audio

  describe('audio', () => {
    it('GET relays the camera audio (singlepart G.711 A-law)', async () => {
      const { res, body } = await readSome(`${CAM}/audio/stream`, viewer, (b) => b.length >= 640);
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['content-type'], 'audio/g.711a');
      assert.ok(body.length >= 640);
    });

    it('GET multipart keeps the camera boundary', async () => {
      const { res, body } = await readSome(`${CAM}/audio/stream?httptype=multipart`, viewer, (b) => b.length >= 400);
      assert.match(String(res.headers['content-type']), /^multipart\/x-mixed-replace; boundary=audioboundary$/);
      assert.match(body.toString('latin1'), /^--audioboundary\r\nContent-Type: Audio\/G.711A\r\nContent-Length: 320\r\n\r\n/);
    });

    it('POST streams the body to the camera (operator) and answers 204', async () => {
      const before = stack.sim.mediaStreams();
      const audio = Buffer.alloc(16_000, 0xd5);
      const res = await request(stack.app).post(`${CAM}/audio/stream?channel=1`).set('Authorization', operator)
        .set('Content-Type', 'audio/G.711A').send(audio);
      assert.equal(res.status, 204, res.text);
      const after = stack.sim.mediaStreams();
      assert.equal(after.audioPosts, before.audioPosts + 1);
      assert.equal(after.audioBytes - before.audioBytes, audio.length);
      const raw = stack.sim.requestLog.filter((r) => r.rawUrl.includes('action=postAudio') && r.authorized);
      assert.match(raw.at(-1)!.rawUrl, /httptype=singlepart&channel=1/);
    });

    it('POST: a viewer is refused, and a body that is not audio is refused', async () => {
      const a = await request(stack.app).post(`${CAM}/audio/stream`).set('Authorization', viewer).set('Content-Type', 'audio/G.711A').send(Buffer.alloc(10));
      assert.equal(a.status, 403);
      const b = await request(stack.app).post(`${CAM}/audio/stream`).set('Authorization', operator).set('Content-Type', 'text/plain').send('hello');
      assert.ok(b.status === 415 || b.status === 400, `${b.status} ${b.text}`);
    });
  });

  // ---------------------------------------------------------------- downloads

  describe('downloads', () => {
    it('a recording between times streams as a §7 file, admin only', async () => {
      const url = `${CAM}/recordings/download?startTime=2012-10-08T13:00:00&endTime=2012-10-08T13:01:00`;
      assert.equal((await request(stack.app).get(url).set('Authorization', operator)).status, 403);
      const res = await request(stack.app).get(url).set('Authorization', admin).buffer(true).parse((r, cb) => {
        const parts: Buffer[] = [];
        r.on('data', (c: Buffer) => parts.push(c));
        r.on('end', () => cb(null, Buffer.concat(parts)));
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], 'application/octet-stream');
      assert.match(String(res.headers['content-disposition']), /attachment; filename="cam1-ch1-20121008130000-20121008130100\.dav"/);
      const items = new DavParser().push(res.body as Buffer);
      assert.equal(items.filter((i) => i.kind === 'packet').length, 60);
    });

    it('the log backup streams, admin only', async () => {
      const url = `${CAM}/logs/backup?startTime=2020-01-01T00:00:00&endTime=2020-01-02T00:00:00`;
      assert.equal((await request(stack.app).get(url).set('Authorization', operator)).status, 403);
      const res = await request(stack.app).get(url).set('Authorization', admin).buffer(true).parse((r, cb) => {
        let text = '';
        r.on('data', (c: Buffer) => { text += c.toString('utf8'); });
        r.on('end', () => cb(null, text));
      });
      assert.equal(res.status, 200);
      const lines = String(res.body).trim().split('\r\n');
      assert.equal(lines.length, 24);
      assert.match(lines[0]!, /^Time: 2020-1-1 00:00:00\t/);
    });

    it('a client that leaves a large download closes the camera side', async () => {
      const url = `${CAM}/logs/backup?startTime=2000-01-01T00:00:00&endTime=2020-01-01T00:00:00`;
      const { res } = await readSome(url, admin, (b) => b.length > 1000);
      assert.equal(res.statusCode, 200);
      // The gateway's camera client gets its slot back: a normal call goes through at once.
      const r = await request(stack.app).get(`${CAM}/rtsp-urls/live`).set('Authorization', viewer);
      assert.equal(r.status, 200);
    });
  });

  it('clients that leave are not gateway errors (nothing logged as internal)', async () => {
    await readSome(`${CAM}/video/stream?format=h264`, viewer, (b) => b.length > 100);
    await readSome(`${CAM}/logs/backup?startTime=2000-01-01T00:00:00&endTime=2020-01-01T00:00:00`, admin, (b) => b.length > 1000);
    // An upload cut off half way.
    const posts = stack.sim.mediaStreams().audioPosts;
    await new Promise<void>((resolve) => {
      const req = httpRequest(`${base}${CAM}/audio/stream`, { method: 'POST', headers: { authorization: operator, 'content-type': 'audio/G.711A' } });
      req.on('error', () => resolve());
      req.write(Buffer.alloc(4_000, 0xd5));
      setTimeout(() => { req.destroy(); resolve(); }, 300);
    });
    await until(() => stack.sim.mediaStreams().audioPosts === posts + 1);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(stack.logs.filter((l) => l.includes('internal error')), []);
    await until(() => stack.sim.mediaStreams().open === 0);
  });
});
