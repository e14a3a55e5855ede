// HTTP media of the simulated camera in the appendix §7 stream format: realmonitor.cgi (§4.2.2)
// and playBack.cgi (§4.2.3, §4.2.4) with synthetic H.264 frames at a steady rate, audio.cgi in
// both directions (§4.3.3, §4.3.4, G.711 A-law), and generated downloads: loadfile.cgi (§4.11.6,
// a recording in the same format) and Log.backup (§4.13.3, a log file). Written independently of
// the gateway's parser (adapters/media/dav.ts) so that each checks the other.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CameraContext, CgiHandler } from './camera.ts';
import { formatCameraTime, parseCameraTime } from './clock.ts';
import { cameraError, ok, type Reply } from './replies.ts';

export const VIDEO_FPS = 10;
const GOP = 10;
const AUDIO_CHUNK = 320;               // 40 ms of 8 kHz G.711
const AUDIO_INTERVAL_MS = 40;
const SIZES: ReadonlyArray<[number, number]> = [[1920, 1080], [640, 360], [320, 180]];
const TITLE = 'CAM 1';
const DOWNLOAD_MAX_FRAMES = 600;       // a generated download covers at most this many frames
export const AUDIO_BOUNDARY = 'audioboundary';

// ---------------------------------------------------------------- §7 writer

function ext(type: number, data: Buffer): Buffer {
  const len = Math.ceil((4 + data.length) / 4) * 4;
  const b = Buffer.alloc(len);
  b[0] = type;
  b[1] = len;
  data.copy(b, 4);
  return b;
}

interface PacketFields { type: number; channel: number; sequence: number; utcMs: number; ext: Buffer[]; payload: Buffer }

function packet(f: PacketFields): Buffer {
  const extension = Buffer.concat(f.ext);
  const h = Buffer.alloc(24);
  h.write('DH', 0, 'latin1');
  h[2] = f.type;
  h.writeUInt32LE(24 + extension.length + f.payload.length, 4);
  h.writeUInt16LE(f.channel, 8);
  h.writeUInt16LE(extension.length, 10);
  h.writeUInt32LE(f.sequence >>> 0, 12);
  h.writeUInt32LE(Math.floor(f.utcMs / 1000) >>> 0, 16);
  h.writeUInt16LE(f.utcMs % 1000, 20);
  let sum = 0;
  for (let i = 0; i < 23; i++) sum += h[i]!;
  h[23] = sum & 0xff;
  return Buffer.concat([h, extension, f.payload]);
}

// Annex B NAL units: SPS, PPS and an IDR slice for I frames, a non-IDR slice otherwise; the
// slice bytes carry the frame number so a test can follow frames through the gateway.
export const SYNTHETIC_SPS = Buffer.from([0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xe8]);
export const SYNTHETIC_PPS = Buffer.from([0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80]);

function slice(frame: number, idr: boolean): Buffer {
  const body = Buffer.alloc(64, 0xa5);
  body.writeUInt32BE(frame >>> 0, 0);
  return Buffer.concat([Buffer.from([0, 0, 0, 1, idr ? 0x65 : 0x41, 0x88]), body]);
}

export function syntheticFrame(frame: number): { idr: boolean; payload: Buffer } {
  const idr = frame % GOP === 0;
  return { idr, payload: idr ? Buffer.concat([SYNTHETIC_SPS, SYNTHETIC_PPS, slice(frame, true)]) : slice(frame, false) };
}

// One A-law tone chunk: the values cycle, so it is not silence.
function g711Chunk(n: number): Buffer {
  const b = Buffer.alloc(AUDIO_CHUNK);
  for (let i = 0; i < b.length; i++) b[i] = 0xd5 ^ ((i + n) % 16);
  return b;
}

class FrameWriter {
  private sequence = 0;
  private frame = 0;
  operateId = 0;
  constructor(private readonly channel: number, private readonly subtype: number, private readonly withAudio: boolean) {}

  /** The packets of one video frame (and its audio) at camera time `utcMs`. */
  next(utcMs: number): Buffer {
    const [width, height] = SIZES[this.subtype] ?? SIZES[0]!;
    const { idr, payload } = syntheticFrame(this.frame);
    const video = Buffer.alloc(12);
    video[0] = 2;                          // H.264
    video[1] = idr ? 1 : 2;
    video.writeUInt16LE(width, 2);
    video.writeUInt16LE(height, 4);
    video[6] = GOP;
    video[7] = VIDEO_FPS;
    video.writeUInt32LE(this.operateId, 8);
    const exts = [ext(0x21, video)];
    if (this.frame === 0) {
      // The stream's first packet carries the channel title and the time zone (§7.2.3, §7.2.4).
      exts.push(ext(0x22, Buffer.from(TITLE, 'utf8')), ext(0x31, Buffer.from([0, 0, 0, 0])));
    }
    if (this.frame % 50 === 25) exts.push(ext(0x23, Buffer.from([0b10, 0, 0, 0])));   // a motion flag now and then
    const parts = [packet({ type: 0x20, channel: this.channel, sequence: this.sequence++, utcMs, ext: exts, payload })];
    if (this.withAudio) {
      const audio = Buffer.alloc(12);
      audio[0] = 8; audio[1] = 1; audio[2] = 2;   // G.711 A-law, mono, 8 kHz
      audio.writeUInt32LE(this.operateId, 4);
      parts.push(packet({ type: 0x10, channel: this.channel, sequence: this.sequence++, utcMs, ext: [ext(0x11, audio)], payload: g711Chunk(this.frame) }));
    }
    this.frame++;
    return Buffer.concat(parts);
  }

  gap(fromMs: number, toMs: number): Buffer {
    const d = Buffer.alloc(20);
    d.writeUInt32LE(this.operateId, 0);
    d.writeUInt32LE(Math.floor(fromMs / 1000), 4);
    d.writeUInt16LE(fromMs % 1000, 8);
    d.writeUInt32LE(Math.floor(toMs / 1000), 12);
    d.writeUInt16LE(toMs % 1000, 16);
    return packet({ type: 0x21, channel: this.channel, sequence: this.sequence++, utcMs: fromMs, ext: [ext(0x24, d)], payload: Buffer.alloc(0) });
  }
}

// ---------------------------------------------------------------- per-camera state

interface Playback {
  writer: FrameWriter;
  speed: number;
  paused: boolean;
  cancel(): void;
}

interface MediaState {
  nextStreamId: number;
  playbacks: Map<number, Playback>;
  open: number;
  audioPosts: number;
  audioBytes: number;
}

const states = new WeakMap<CameraContext, MediaState>();

export function streamState(camera: CameraContext): MediaState {
  let s = states.get(camera);
  if (!s) states.set(camera, (s = { nextStreamId: 0, playbacks: new Map(), open: 0, audioPosts: 0, audioBytes: 0 }));
  return s;
}

function channelOf(camera: CameraContext, raw: string | undefined): number | null {
  if (raw === undefined || raw === '') return 1;
  const n = Number(raw);
  // These cameras have one video channel.
  return Number.isInteger(n) && n === 1 ? n : null;
}

function subtypeOf(raw: string | undefined): number | null {
  if (raw === undefined || raw === '') return 0;
  const n = Number(raw);
  return Number.isInteger(n) && n >= 0 && n <= 2 ? n : null;
}

/** Runs `tick` every `ms` while the client reads; a client that does not read skips ticks (a camera drops frames). */
function pace(res: ServerResponse, ms: number, tick: () => boolean | void, onEnd?: () => void): void {
  let ended = false;
  const stop = (): void => {
    if (ended) return;
    ended = true;
    clearInterval(timer);
    onEnd?.();
  };
  const timer = setInterval(() => {
    if (res.destroyed || res.writableEnded) { stop(); return; }
    if (res.writableNeedDrain) return;
    if (tick() === false) { stop(); res.end(); }
  }, ms);
  res.once('close', stop);
}

const OCTET = { 'Content-Type': 'Application/octet-stream' };

// ---------------------------------------------------------------- §4.2.2 realmonitor.cgi

export const realmonitor: CgiHandler = ({ url, camera }) => {
  const channel = channelOf(camera, url.get('channel'));
  const subtype = subtypeOf(url.get('subtype'));
  if (channel === null || subtype === null) return cameraError(4);
  const state = streamState(camera);
  return {
    status: 200, headers: OCTET, body: '',
    stream: (_req, res) => {
      state.open++;
      const writer = new FrameWriter(channel, subtype, camera.model === 'WV-V2530LK');
      res.write(writer.next(camera.clock.current().getTime()));
      pace(res, 1000 / VIDEO_FPS, () => { res.write(writer.next(camera.clock.current().getTime())); }, () => { state.open--; });
    },
  };
};

// ---------------------------------------------------------------- §4.2.3 / §4.2.4 playBack.cgi

function timeRange(start: string | undefined, end: string | undefined): [number, number] | null {
  const a = start === undefined ? null : parseCameraTime(start);
  const b = end === undefined ? null : parseCameraTime(end);
  if (!a || !b || b.getTime() <= a.getTime()) return null;
  return [a.getTime(), b.getTime()];
}

export const playbackStream: CgiHandler = ({ url, camera }) => {
  const channel = channelOf(camera, url.get('channel'));
  const subtype = subtypeOf(url.get('subtype'));
  const range = timeRange(url.get('startTime'), url.get('endTime'));
  if (channel === null || subtype === null || range === null) return cameraError(4);
  const state = streamState(camera);
  const streamId = state.nextStreamId++;
  return {
    status: 200, headers: OCTET, body: '',
    stream: (_req, res) => {
      const writer = new FrameWriter(channel, subtype, false);
      const pb: Playback = { writer, speed: 1, paused: false, cancel: () => res.end() };
      state.playbacks.set(streamId, pb);
      state.open++;
      res.write(`streamId=${streamId}\r\n`);
      let at = range[0];
      const step = 1000 / VIDEO_FPS;
      pace(res, step, () => {
        if (pb.paused) return true;
        for (let n = 0; n < Math.max(1, Math.abs(pb.speed)); n++) {
          if (at >= range[1] || at < range[0]) return false;
          // The recording has a 2 s hole every 30 s: announced by a gap packet (§7.2.6).
          if (at > range[0] && at % 30_000 < step) {
            res.write(writer.gap(at, at + 2_000));
            at += 2_000;
            continue;
          }
          res.write(writer.next(at));
          at += pb.speed < 0 ? -step : step;
        }
        return true;
      }, () => { state.open--; state.playbacks.delete(streamId); });
    },
  };
};

export const playbackControl: CgiHandler = ({ url, camera }) => {
  const pb = streamState(camera).playbacks.get(Number(url.get('streamId')));
  if (!pb || !/^\d+$/.test(url.get('streamId') ?? '')) return cameraError(4);
  switch (url.get('cmd')) {
    case 'play': {
      const speed = url.get('speed') === undefined ? 1 : Number(url.get('speed'));
      if (!Number.isInteger(speed) || speed === 0 || Math.abs(speed) > 16) return cameraError(4);
      pb.speed = speed;
      pb.paused = false;
      pb.writer.operateId++;
      return { status: 200, headers: { 'Content-Type': 'text/plain;charset=utf-8' }, body: `OK\r\noperateId=${pb.writer.operateId}\r\n` };
    }
    case 'pause':
      pb.paused = true;
      return ok();
    case 'cancel':
      pb.cancel();
      return ok();
    default:
      return cameraError(4);
  }
};

// ---------------------------------------------------------------- §4.3.3 / §4.3.4 audio.cgi

export const getAudio: CgiHandler = ({ url, camera }) => {
  const type = url.get('httptype') ?? 'singlepart';
  if ((type !== 'singlepart' && type !== 'multipart') || !/^1?$/.test(url.get('channel') ?? '')) return cameraError(4);
  const multipart = type === 'multipart';
  const state = streamState(camera);
  return {
    status: 200,
    headers: { 'Content-Type': multipart ? `multipart/x-mixed-replace; boundary=${AUDIO_BOUNDARY}` : 'Audio/G.711A' },
    body: '',
    stream: (_req, res) => {
      state.open++;
      let n = 0;
      pace(res, AUDIO_INTERVAL_MS, () => {
        const chunk = g711Chunk(n++);
        if (multipart) res.write(`--${AUDIO_BOUNDARY}\r\nContent-Type: Audio/G.711A\r\nContent-Length: ${chunk.length}\r\n\r\n`);
        res.write(chunk);
        if (multipart) res.write('\r\n');
      }, () => { state.open--; });
    },
  };
};

/** Consumes the uploaded audio as it comes and answers OK at its end (§4.3.3). */
export const postAudio: CgiHandler = ({ method, url, camera }) => {
  const type = url.get('httptype') ?? 'singlepart';
  if (method !== 'POST' || (type !== 'singlepart' && type !== 'multipart') || !/^1?$/.test(url.get('channel') ?? '')) return cameraError(4);
  const state = streamState(camera);
  return {
    status: 200, headers: { 'Content-Type': 'text/plain;charset=utf-8' }, body: '',
    stream: (req: IncomingMessage, res: ServerResponse) => {
      state.audioPosts++;
      req.on('data', (chunk: Buffer) => { state.audioBytes += chunk.length; });
      req.once('end', () => res.end('OK\r\n'));
      req.once('error', () => res.destroy());
    },
  };
};

// ---------------------------------------------------------------- §4.11.6 / §4.13.3 downloads

/** Writes `produce(i)` for i = 0.. until it returns null, following the reader's pace. */
function download(res: ServerResponse, produce: (i: number) => Buffer | null): void {
  let i = 0;
  const more = (): void => {
    for (;;) {
      if (res.destroyed) return;
      const chunk = produce(i++);
      if (chunk === null) { res.end(); return; }
      if (!res.write(chunk)) { res.once('drain', more); return; }
    }
  };
  more();
}

export const loadFile: CgiHandler = ({ url, camera }) => {
  const channel = channelOf(camera, url.get('channel'));
  const subtype = subtypeOf(url.get('subtype'));
  const range = timeRange(url.get('startTime'), url.get('endTime'));
  if (channel === null || subtype === null || range === null) return cameraError(4);
  // One frame per second of the range: a small file that is still a real recording.
  const frames = Math.min(DOWNLOAD_MAX_FRAMES, Math.ceil((range[1] - range[0]) / 1000));
  const writer = new FrameWriter(channel, subtype, false);
  return {
    status: 200, headers: OCTET, body: '',
    stream: (_req, res) => download(res, (i) => (i < frames ? writer.next(range[0] + i * 1000) : null)),
  };
};

const LOG_KINDS = ['Reboot', 'SetTime', 'Login', 'Logout', 'SaveConfig', 'StartRecord', 'StopRecord'];

export const logBackup: CgiHandler = ({ url }) => {
  const range = timeRange(url.get('condition.StartTime'), url.get('condition.EndTime'));
  if (range === null) return cameraError(4);
  // One entry per hour of the range, at most 5000: the vendor example ran to 743 kB.
  const entries = Math.min(5_000, Math.ceil((range[1] - range[0]) / 3_600_000));
  return {
    status: 200,
    headers: { 'Content-Type': 'application/binarytet-stream; charset=utf-8', 'Content-Disposition': 'attachment; filename="Log.Backup"' },
    body: '',
    stream: (_req, res) => download(res, (i) => {
      if (i >= entries) return null;
      const time = formatCameraTime(new Date(range[0] + i * 3_600_000));
      return Buffer.from(`Time: ${time}\tUser: admin\tType: ${LOG_KINDS[i % LOG_KINDS.length]}\tDetail: entry ${i}\r\n`, 'utf8');
    }),
  };
};

export type { Reply };
