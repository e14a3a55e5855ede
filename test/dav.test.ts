// The appendix §7 stream parser: packets built by a small independent writer, table-driven, and
// a property that no chunk split changes what comes out.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DavParser, davTransform, packetMetadata, type DavItem } from '../adapters/media/dav.ts';

// ---------------------------------------------------------------- a writer, written from the appendix tables

interface Spec {
  type: number;
  channel?: number;
  sequence?: number;
  utc?: number;
  utcMs?: number;
  ext?: Buffer[];
  payload?: Buffer;
}

function packet(s: Spec): Buffer {
  const ext = Buffer.concat(s.ext ?? []);
  const payload = s.payload ?? Buffer.alloc(0);
  const h = Buffer.alloc(24);
  h.write('DH', 0, 'latin1');
  h[2] = s.type;
  h.writeUInt32LE(24 + ext.length + payload.length, 4);
  h.writeUInt16LE(s.channel ?? 1, 8);
  h.writeUInt16LE(ext.length, 10);
  h.writeUInt32LE(s.sequence ?? 0, 12);
  h.writeUInt32LE(s.utc ?? 1_700_000_000, 16);
  h.writeUInt16LE(s.utcMs ?? 0, 20);
  let sum = 0;
  for (let i = 0; i < 23; i++) sum += h[i]!;
  h[23] = sum & 0xff;
  return Buffer.concat([h, ext, payload]);
}

function ext(type: number, data: Buffer): Buffer {
  const len = Math.ceil((4 + data.length) / 4) * 4;
  const b = Buffer.alloc(len);
  b[0] = type;
  b[1] = len;
  data.copy(b, 4);
  return b;
}

function videoExt(o: { videoType?: number; frameType?: number; width?: number; height?: number; gop?: number; fps?: number; operateId?: number }): Buffer {
  const d = Buffer.alloc(12);
  d[0] = o.videoType ?? 2;
  d[1] = o.frameType ?? 1;
  d.writeUInt16LE(o.width ?? 1920, 2);
  d.writeUInt16LE(o.height ?? 1080, 4);
  d[6] = o.gop ?? 50;
  d[7] = o.fps ?? 25;
  d.writeUInt32LE(o.operateId ?? 0, 8);
  return ext(0x21, d);
}

function audioExt(type: number, tracks: number, freq: number, operateId?: number): Buffer {
  const d = Buffer.alloc(operateId === undefined ? 4 : 12);
  d[0] = type;
  d[1] = tracks;
  d[2] = freq;
  if (operateId !== undefined) d.writeUInt32LE(operateId, 4);
  return ext(0x11, d);
}

const NAL_SPS = Buffer.from([0, 0, 0, 1, 0x67, 0x42, 0x00, 0x1f]);
const NAL_IDR = Buffer.from([0, 0, 0, 1, 0x65, 0x88, 0x84, 0x21]);
const NAL_P = Buffer.from([0, 0, 0, 1, 0x41, 0x9a, 0x02]);

function parseAll(chunks: Buffer[]): DavItem[] {
  const p = new DavParser();
  const out: DavItem[] = [];
  for (const c of chunks) out.push(...p.push(c));
  out.push(...p.end());
  return out;
}

function packets(items: DavItem[]) {
  return items.flatMap((i) => (i.kind === 'packet' ? [i.packet] : []));
}

// ---------------------------------------------------------------- tables

describe('DavParser', () => {
  const cases: Array<{ name: string; bytes: Buffer; check: (items: DavItem[]) => void }> = [
    {
      name: 'packet header fields',
      bytes: packet({ type: 0x20, channel: 2, sequence: 77, utc: 1_349_701_201, utcMs: 250, ext: [videoExt({})], payload: NAL_IDR }),
      check: (items) => {
        const [p] = packets(items);
        assert.equal(p!.type, 'video');
        assert.equal(p!.channel, 2);
        assert.equal(p!.sequence, 77);
        assert.equal(p!.utc, 1_349_701_201);
        assert.equal(p!.utcMs, 250);
        assert.equal(p!.length, 24 + 16 + NAL_IDR.length);
        assert.deepEqual(p!.payload, NAL_IDR);
        assert.equal(packetMetadata(p!).time, '2012-10-08T13:00:01.250Z');
      },
    },
    {
      name: 'video extension header',
      bytes: packet({ type: 0x20, ext: [videoExt({ frameType: 2, width: 1280, height: 720, gop: 30, fps: 15, operateId: 4 })], payload: NAL_P }),
      check: (items) => {
        assert.deepEqual(packets(items)[0]!.extensions, [
          { kind: 'video', videoType: 2, codec: 'H.264', frameType: 2, frame: 'P', width: 1280, height: 720, iFrameInterval: 30, frameRate: 15, operateId: 4 },
        ]);
      },
    },
    {
      name: 'audio extension header, 8 bytes as its length byte says (no operateId)',
      bytes: packet({ type: 0x10, ext: [audioExt(8, 1, 2)], payload: Buffer.alloc(320, 0xd5) }),
      check: (items) => {
        const p = packets(items)[0]!;
        assert.equal(p.type, 'audio');
        assert.deepEqual(p.extensions, [{ kind: 'audio', audioType: 8, codec: 'G711A', tracks: 1, sampleFreq: 2, sampleRate: 8000, operateId: null }]);
        assert.equal(p.payload.length, 320);
      },
    },
    {
      name: 'audio extension header, 16 bytes as its table draws (operateId)',
      bytes: packet({ type: 0x10, ext: [audioExt(4, 2, 4, 9)] }),
      check: (items) => {
        assert.deepEqual(packets(items)[0]!.extensions[0], { kind: 'audio', audioType: 4, codec: 'G711U', tracks: 2, sampleFreq: 4, sampleRate: 16000, operateId: 9 });
      },
    },
    {
      name: 'channel title (UTF-8, NUL padded), time zone, event flags',
      bytes: packet({
        type: 0x20,
        ext: [videoExt({}), ext(0x22, Buffer.from('Entrée', 'utf8')), ext(0x31, Buffer.from([0xfb, 30, 1, 0])), ext(0x23, Buffer.from([0b110, 0, 0, 0]))],
        payload: NAL_IDR,
      }),
      check: (items) => {
        const e = packets(items)[0]!.extensions;
        assert.deepEqual(e[1], { kind: 'title', title: 'Entrée' });
        assert.deepEqual(e[2], { kind: 'timeZone', hours: -5, minutes: 30, daylightSaving: true });
        assert.deepEqual(e[3], { kind: 'eventFlags', flags: 6, events: ['motionDetect', 'videoLoss'] });
      },
    },
    {
      name: 'auxiliary packet with a gap',
      bytes: (() => {
        const d = Buffer.alloc(20);
        d.writeUInt32LE(3, 0);
        d.writeUInt32LE(1_349_701_201, 4);
        d.writeUInt16LE(100, 8);
        d.writeUInt32LE(1_349_701_261, 12);
        d.writeUInt16LE(900, 16);
        return packet({ type: 0x21, ext: [ext(0x24, d)] });
      })(),
      check: (items) => {
        const p = packets(items)[0]!;
        assert.equal(p.type, 'auxiliary');
        assert.deepEqual(p.extensions[0], { kind: 'gap', operateId: 3, start: 1_349_701_201, startMs: 100, end: 1_349_701_261, endMs: 900 });
        const meta = packetMetadata(p).extensions as Array<Record<string, unknown>>;
        assert.equal(meta[0]!.endTime, '2012-10-08T13:01:01.900Z');
      },
    },
    {
      name: 'unknown extension kept by type and length',
      bytes: packet({ type: 0x20, ext: [ext(0x7f, Buffer.alloc(4)), videoExt({})] }),
      check: (items) => {
        const e = packets(items)[0]!.extensions;
        assert.deepEqual(e[0], { kind: 'unknown', type: 0x7f, length: 8 });
        assert.equal(e[1]!.kind, 'video');
      },
    },
    {
      name: 'an extension length that runs past the extension area stops there with a warning',
      bytes: (() => {
        const bad = ext(0x22, Buffer.from('abcd'));
        bad[1] = 200;
        return packet({ type: 0x20, ext: [videoExt({}), bad] });
      })(),
      check: (items) => {
        const p = packets(items)[0]!;
        assert.equal(p.extensions.length, 1);
        assert.match(p.warning!, /0x22/);
      },
    },
    {
      name: 'the playBack.cgi preamble line, then packets',
      bytes: Buffer.concat([Buffer.from('streamId=5\r\n'), packet({ type: 0x20, ext: [videoExt({})], payload: NAL_IDR })]),
      check: (items) => {
        assert.deepEqual(items[0], { kind: 'text', key: 'streamId', value: '5' });
        assert.equal(items[1]!.kind, 'packet');
      },
    },
    {
      name: 'garbage between packets is skipped and counted, the next packet found',
      bytes: Buffer.concat([packet({ type: 0x20, sequence: 1 }), Buffer.from([1, 2, 3, 0x44, 9]), packet({ type: 0x20, sequence: 2 })]),
      check: (items) => {
        assert.deepEqual(items.map((i) => i.kind), ['packet', 'skipped', 'packet']);
        assert.deepEqual(items[1], { kind: 'skipped', bytes: 5 });
        assert.equal(packets(items)[1]!.sequence, 2);
      },
    },
    {
      name: 'an implausible header (length smaller than its extension area) is skipped',
      bytes: (() => {
        const bad = packet({ type: 0x20, ext: [videoExt({})] });
        bad.writeUInt32LE(10, 4);
        return Buffer.concat([bad, packet({ type: 0x20, sequence: 9 })]);
      })(),
      check: (items) => {
        assert.deepEqual(items.map((i) => i.kind), ['skipped', 'packet']);
        assert.equal(packets(items)[0]!.sequence, 9);
      },
    },
    {
      name: 'a truncated last packet is reported as skipped at the end',
      bytes: Buffer.concat([packet({ type: 0x20, sequence: 1 }), packet({ type: 0x20, payload: NAL_IDR }).subarray(0, 30)]),
      check: (items) => {
        assert.deepEqual(items.map((i) => i.kind), ['packet', 'skipped']);
        assert.deepEqual(items[1], { kind: 'skipped', bytes: 30 });
      },
    },
  ];

  for (const c of cases) {
    it(c.name, () => {
      c.check(parseAll([c.bytes]));
      // And byte by byte.
      c.check(parseAll([...c.bytes].map((b) => Buffer.from([b]))));
    });
  }

  it('holds no more than one packet and a chunk while waiting', () => {
    const p = new DavParser();
    const big = packet({ type: 0x20, ext: [videoExt({})], payload: Buffer.alloc(200_000, 7) });
    let max = 0;
    const out: DavItem[] = [];
    for (let i = 0; i < big.length * 3; i += 4096) {
      const all = Buffer.concat([big, big, big]);
      out.push(...p.push(all.subarray(i, i + 4096)));
      max = Math.max(max, p.buffered);
    }
    assert.equal(packets(out).length, 3);
    assert.ok(max <= big.length + 4096, `buffered ${max}`);
  });
});

// ---------------------------------------------------------------- chunk splits

const arbStream = fc.array(
  fc.oneof(
    fc.record({ type: fc.constant(0x20), sequence: fc.nat(0xffff), payload: fc.uint8Array({ maxLength: 300 }), frameType: fc.integer({ min: 1, max: 3 }) }),
    fc.record({ type: fc.constant(0x10), sequence: fc.nat(0xffff), payload: fc.uint8Array({ maxLength: 100 }), frameType: fc.constant(0) }),
  ),
  { minLength: 1, maxLength: 12 },
);

it('gives the same items for every chunk split (property)', () => {
  fc.assert(
    fc.property(arbStream, fc.array(fc.nat(), { maxLength: 20 }), fc.boolean(), (specs, cuts, preamble) => {
      const bytes = Buffer.concat([
        preamble ? Buffer.from('streamId=12\r\n') : Buffer.alloc(0),
        ...specs.map((s) =>
          packet({ type: s.type, sequence: s.sequence, payload: Buffer.from(s.payload), ext: [s.type === 0x20 ? videoExt({ frameType: s.frameType }) : audioExt(8, 1, 2)] }),
        ),
      ]);
      const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
      const chunks: Buffer[] = [];
      let last = 0;
      for (const p of [...points, bytes.length]) {
        chunks.push(bytes.subarray(last, p));
        last = p;
      }
      const whole = parseAll([bytes]);
      const split = parseAll(chunks);
      assert.deepEqual(split, whole);
      assert.equal(packets(whole).length, specs.length);
      assert.deepEqual(packets(whole).map((p) => p.sequence), specs.map((s) => s.sequence));
    }),
    { numRuns: 300 },
  );
});

describe('davTransform', () => {
  const stream = [
    Buffer.from('streamId=1\r\n'),
    packet({ type: 0x20, sequence: 1, ext: [videoExt({ frameType: 1 })], payload: Buffer.concat([NAL_SPS, NAL_IDR]) }),
    packet({ type: 0x10, sequence: 2, ext: [audioExt(8, 1, 2)], payload: Buffer.alloc(160, 0xd5) }),
    packet({ type: 0x20, sequence: 3, ext: [videoExt({ frameType: 2 })], payload: NAL_P }),
    packet({ type: 0x20, sequence: 4, ext: [videoExt({ videoType: 1 })], payload: Buffer.from('mpeg4') }),
  ];

  it('h264: the H.264 payloads only, in order', async () => {
    const out = await buffer(Readable.from(stream).pipe(davTransform('h264')));
    assert.deepEqual(out, Buffer.concat([NAL_SPS, NAL_IDR, NAL_P]));
  });

  it('metadata: one JSON line per item, payloads left out', async () => {
    const out = (await buffer(Readable.from(stream).pipe(davTransform('metadata')))).toString('utf8');
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 5);
    assert.deepEqual(lines[0], { type: 'text', key: 'streamId', value: '1' });
    assert.equal(lines[1]!.type, 'video');
    assert.equal(lines[1]!.payloadLength, NAL_SPS.length + NAL_IDR.length);
    assert.equal(lines[2]!.type, 'audio');
    assert.ok(!('payload' in lines[1]!));
  });
});
