// The stream format of the vendor document's appendix §7 (realmonitor.cgi and playBack.cgi
// getStream): a pure, streaming parser that survives any chunk split, plus the two views the
// gateway hands out: the raw H.264 elementary stream and one JSON line of metadata per packet.
//
// The appendix draws byte tables without widths or byte order; this is how we read them (the
// simulator writes the same, and field captures of this family agree):
//   header (24 bytes, little-endian): 0-1 "DH", 2 type (0x10 audio, 0x20 video, 0x21 auxiliary),
//   3 reserved, 4-7 packet length (header + extension headers + payload), 8-9 channel,
//   10-11 extension headers length (a multiple of 4), 12-15 sequence, 16-19 utc (seconds),
//   20-21 utc milliseconds, 22 reserved, 23 checksum (undefined by the document: reported, not checked).
//   extension header: 0 type, 1 length of this header in bytes (head included), 2-3 reserved, data.
// The audio header says length 8 while its table draws 16 bytes (OperateId at 8-11): the length
// byte decides, and operateId is read only when it covers those bytes.
import { Transform, type TransformCallback } from 'node:stream';

export const DAV_HEADER_LENGTH = 24;
/** Larger packets are taken for corruption and skipped (an I frame of a 4K camera is well below). */
export const DAV_MAX_PACKET = 16 * 1024 * 1024;
const MAX_TEXT_LINE = 256;

export type DavPacketType = 'audio' | 'video' | 'auxiliary' | 'unknown';

const PACKET_TYPES: Record<number, DavPacketType> = { 0x10: 'audio', 0x20: 'video', 0x21: 'auxiliary' };

export const AUDIO_CODECS: Record<number, string> = {
  1: 'PCM8', 2: 'G729', 3: 'IMA_ADPCM', 4: 'G711U', 5: 'G721', 6: 'PCM8_VWIS', 7: 'MS_ADPCM', 8: 'G711A',
  9: 'AMR-NB', 10: 'PCM16', 11: 'G723.1', 12: 'AAC', 13: 'G726_40', 14: 'G726_32', 15: 'G726_24', 16: 'G726_16',
};
export const SAMPLE_RATES: Record<number, number> = {
  1: 4000, 2: 8000, 3: 11025, 4: 16000, 5: 20000, 6: 22050, 7: 32000, 8: 44100, 9: 48000,
};
export const VIDEO_CODECS: Record<number, string> = { 1: 'MPEG4', 2: 'H.264' };
export const FRAME_TYPES: Record<number, string> = { 1: 'I', 2: 'P', 3: 'B' };
const EVENT_BITS = ['externalAlarm', 'motionDetect', 'videoLoss'] as const;

export type DavExtension =
  | { kind: 'audio'; audioType: number; codec: string | null; tracks: number; sampleFreq: number; sampleRate: number | null; operateId: number | null }
  | {
      kind: 'video'; videoType: number; codec: string | null; frameType: number; frame: string | null;
      width: number; height: number; iFrameInterval: number; frameRate: number; operateId: number | null;
    }
  | { kind: 'title'; title: string }
  | { kind: 'timeZone'; hours: number; minutes: number; daylightSaving: boolean }
  | { kind: 'eventFlags'; flags: number; events: string[] }
  | { kind: 'gap'; operateId: number | null; start: number; startMs: number; end: number; endMs: number }
  | { kind: 'unknown'; type: number; length: number };

export interface DavPacket {
  type: DavPacketType;
  typeCode: number;
  length: number;
  channel: number;
  sequence: number;
  /** Seconds since 1970 as the camera wrote them, and milliseconds. */
  utc: number;
  utcMs: number;
  checksum: number;
  extensions: DavExtension[];
  payload: Buffer;
  /** Set when the extension headers did not add up (a bad length byte): parsing stopped there. */
  warning?: string;
}

export type DavItem =
  | { kind: 'packet'; packet: DavPacket }
  /** A `key=value` line before the first packet: playBack.cgi sends `streamId=<id>\r\n`. */
  | { kind: 'text'; key: string; value: string }
  /** Bytes that were not a packet, skipped to find the next "DH". */
  | { kind: 'skipped'; bytes: number };

/**
 * Push chunks as they arrive; each call returns what they completed. Holds at most one packet
 * plus one chunk in memory. Chunks are copied only when a packet is complete (once per packet).
 */
export class DavParser {
  private chunks: Buffer[] = [];
  private total = 0;
  private started = false;   // a packet has been seen: no more preamble lines
  private skipped = 0;

  push(chunk: Buffer): DavItem[] {
    if (chunk.length === 0) return [];
    this.chunks.push(chunk);
    this.total += chunk.length;
    const out: DavItem[] = [];
    for (;;) {
      const need = this.needed();
      if (need === null || this.total < need) break;
      const buf = this.flatten();
      const consumed = this.step(buf, out);
      if (consumed === 0) break;
      this.consume(consumed);
    }
    return out;
  }

  /** The end of the stream: what is left is reported as skipped. */
  end(): DavItem[] {
    const out: DavItem[] = [];
    this.skipped += this.total;
    this.chunks = [];
    this.total = 0;
    this.flushSkipped(out);
    return out;
  }

  /** Bytes buffered, waiting for the rest of a packet. */
  get buffered(): number {
    return this.total;
  }

  // How many bytes the next step needs to decide; null when only the next chunk can tell.
  private needed(): number | null {
    if (this.total < 2) return null;
    const head = this.peek(DAV_HEADER_LENGTH);
    if (head[0] === 0x44 && head[1] === 0x48) {
      if (head.length < DAV_HEADER_LENGTH) return DAV_HEADER_LENGTH;
      const length = head.readUInt32LE(4);
      return this.plausible(head) ? length : DAV_HEADER_LENGTH;
    }
    // Not at a packet: a preamble line or garbage; step() looks at what is there.
    return Math.min(this.total, 2);
  }

  private plausible(head: Buffer): boolean {
    const length = head.readUInt32LE(4);
    const ext = head.readUInt16LE(10);
    return ext % 4 === 0 && length >= DAV_HEADER_LENGTH + ext && length <= DAV_MAX_PACKET;
  }

  private step(buf: Buffer, out: DavItem[]): number {
    if (buf[0] === 0x44 && buf[1] === 0x48 && buf.length >= DAV_HEADER_LENGTH && this.plausible(buf)) {
      const length = buf.readUInt32LE(4);
      if (buf.length < length) return 0;
      this.flushSkipped(out);
      this.started = true;
      out.push({ kind: 'packet', packet: decodePacket(buf.subarray(0, length)) });
      return length;
    }
    if (buf[0] === 0x44 && buf[1] === 0x48 && buf.length < DAV_HEADER_LENGTH) return 0;
    if (!this.started && this.skipped === 0) {
      const line = textLine(buf);
      if (line === 'wait') return 0;
      if (line !== null) {
        out.push({ kind: 'text', key: line.key, value: line.value });
        return line.consumed;
      }
    }
    // Resynchronise: skip to the next "DH" (or keep a trailing "D" that may start one).
    let i = buf.indexOf('DH', 1, 'latin1');
    if (i < 0) i = buf[buf.length - 1] === 0x44 ? buf.length - 1 : buf.length;
    this.skipped += i;
    return i;
  }

  private flushSkipped(out: DavItem[]): void {
    if (this.skipped > 0) {
      out.push({ kind: 'skipped', bytes: this.skipped });
      this.skipped = 0;
    }
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n || this.chunks.length === 1) return first.subarray(0, n);
    return this.flatten().subarray(0, n);
  }

  private flatten(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.total)];
    return this.chunks[0]!;
  }

  private consume(n: number): void {
    const buf = this.flatten();
    this.total -= n;
    this.chunks = this.total > 0 ? [buf.subarray(n)] : [];
  }
}

// A `key=value\r\n` line of printable ASCII; 'wait' while it may still be one.
function textLine(buf: Buffer): { key: string; value: string; consumed: number } | null | 'wait' {
  const limit = Math.min(buf.length, MAX_TEXT_LINE);
  for (let i = 0; i < limit; i++) {
    const c = buf[i]!;
    if (c === 0x0a) {
      const raw = buf.subarray(0, i).toString('latin1').replace(/\r$/, '');
      const m = /^([A-Za-z][A-Za-z0-9_.]*)=([\x20-\x7e]*)$/.exec(raw);
      return m ? { key: m[1]!, value: m[2]!, consumed: i + 1 } : null;
    }
    if (c !== 0x0d && (c < 0x20 || c > 0x7e)) return null;
  }
  return buf.length < MAX_TEXT_LINE ? 'wait' : null;
}

export function decodePacket(buf: Buffer): DavPacket {
  const typeCode = buf[2]!;
  const length = buf.readUInt32LE(4);
  const extLength = buf.readUInt16LE(10);
  const packet: DavPacket = {
    type: PACKET_TYPES[typeCode] ?? 'unknown',
    typeCode,
    length,
    channel: buf.readUInt16LE(8),
    sequence: buf.readUInt32LE(12),
    utc: buf.readUInt32LE(16),
    utcMs: buf.readUInt16LE(20),
    checksum: buf[23]!,
    extensions: [],
    payload: buf.subarray(DAV_HEADER_LENGTH + extLength, length),
  };
  const ext = buf.subarray(DAV_HEADER_LENGTH, DAV_HEADER_LENGTH + extLength);
  let at = 0;
  while (at + 4 <= ext.length) {
    const type = ext[at]!;
    const len = ext[at + 1]!;
    if (type === 0 && len === 0) break;   // padding
    if (len < 4 || at + len > ext.length) {
      packet.warning = `extension header 0x${type.toString(16)} at ${at} has length ${len}`;
      break;
    }
    packet.extensions.push(decodeExtension(type, ext.subarray(at, at + len)));
    at += len;
  }
  return packet;
}

function decodeExtension(type: number, h: Buffer): DavExtension {
  const len = h.length;
  switch (type) {
    case 0x11: {
      const audioType = len > 4 ? h[4]! : 0;
      const sampleFreq = len > 6 ? h[6]! : 0;
      return {
        kind: 'audio', audioType, codec: AUDIO_CODECS[audioType] ?? null, tracks: len > 5 ? h[5]! : 0,
        sampleFreq, sampleRate: SAMPLE_RATES[sampleFreq] ?? null, operateId: len >= 12 ? h.readUInt32LE(8) : null,
      };
    }
    case 0x21: {
      if (len < 12) return { kind: 'unknown', type, length: len };
      const videoType = h[4]!;
      const frameType = h[5]!;
      return {
        kind: 'video', videoType, codec: VIDEO_CODECS[videoType] ?? null, frameType, frame: FRAME_TYPES[frameType] ?? null,
        width: h.readUInt16LE(6), height: h.readUInt16LE(8), iFrameInterval: h[10]!, frameRate: h[11]!,
        operateId: len >= 16 ? h.readUInt32LE(12) : null,
      };
    }
    case 0x22: {
      const raw = h.subarray(4);
      const nul = raw.indexOf(0);
      return { kind: 'title', title: raw.subarray(0, nul < 0 ? raw.length : nul).toString('utf8') };
    }
    case 0x31:
      if (len < 8) return { kind: 'unknown', type, length: len };
      return { kind: 'timeZone', hours: h.readInt8(4), minutes: h.readInt8(5), daylightSaving: h[6] === 1 };
    case 0x23: {
      let flags = 0;
      for (let i = 4; i < Math.min(len, 8); i++) flags |= h[i]! << (8 * (i - 4));
      flags >>>= 0;
      return { kind: 'eventFlags', flags, events: EVENT_BITS.filter((_, bit) => (flags & (1 << bit)) !== 0) };
    }
    case 0x24:
      if (len < 24) return { kind: 'unknown', type, length: len };
      return {
        kind: 'gap', operateId: h.readUInt32LE(4), start: h.readUInt32LE(8), startMs: h.readUInt16LE(12),
        end: h.readUInt32LE(16), endMs: h.readUInt16LE(20),
      };
    default:
      return { kind: 'unknown', type, length: len };
  }
}

/** The packet without its payload, for JSON: times as ISO 8601 too. */
export function packetMetadata(p: DavPacket): Record<string, unknown> {
  const meta: Record<string, unknown> = {
    type: p.type, typeCode: p.typeCode, channel: p.channel, sequence: p.sequence, length: p.length,
    utc: p.utc, utcMs: p.utcMs, time: isoTime(p.utc, p.utcMs), checksum: p.checksum, payloadLength: p.payload.length,
    extensions: p.extensions.map((e) => (e.kind === 'gap' ? { ...e, startTime: isoTime(e.start, e.startMs), endTime: isoTime(e.end, e.endMs) } : e)),
  };
  if (p.warning !== undefined) meta.warning = p.warning;
  return meta;
}

function isoTime(seconds: number, ms: number): string {
  return new Date(seconds * 1000 + Math.min(ms, 999)).toISOString();
}

export function videoExtension(p: DavPacket): Extract<DavExtension, { kind: 'video' }> | undefined {
  return p.extensions.find((e): e is Extract<DavExtension, { kind: 'video' }> => e.kind === 'video');
}

/** True for a video packet whose payload is H.264 (video extension type 2). */
export function isH264(p: DavPacket): boolean {
  return p.type === 'video' && videoExtension(p)?.videoType === 2;
}

export type DavView = 'h264' | 'metadata';

/**
 * A Transform from §7 bytes to one view: `h264` passes the payloads of H.264 video packets
 * (Annex B NAL units, as the camera packs them); `metadata` writes one JSON line per item.
 * Backpressure flows through: a slow reader stops the parser, which stops the source.
 */
export function davTransform(view: DavView): Transform {
  const parser = new DavParser();
  const emit = (t: Transform, items: DavItem[]): void => {
    for (const item of items) {
      if (view === 'h264') {
        if (item.kind === 'packet' && isH264(item.packet) && item.packet.payload.length > 0) t.push(item.packet.payload);
      } else if (item.kind === 'packet') {
        t.push(JSON.stringify(packetMetadata(item.packet)) + '\n');
      } else {
        t.push(JSON.stringify(item.kind === 'text' ? { type: 'text', key: item.key, value: item.value } : { type: 'skipped', bytes: item.bytes }) + '\n');
      }
    }
  };
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      emit(this, parser.push(chunk));
      done();
    },
    flush(done: TransformCallback) {
      emit(this, parser.end());
      done();
    },
  });
}
