// Generated JPEG frames for snapshot.cgi (§4.4.2) and mjpg/video.cgi (§4.2.1): a test pattern
// with the channel, the camera time and a frame counter drawn in a tiny bitmap font. Encoding
// is the expensive part, so the picture is encoded once per channel, stream and second; the
// exact frame number of an MJPEG part rides in a JPEG comment segment (cheap to insert), so
// tests can tell which frames a viewer received.
import type { ServerResponse } from 'node:http';
import jpeg from 'jpeg-js';
import type { CgiRequest } from './camera.ts';
import { cameraError, type Reply } from './replies.ts';

// 3x5 glyphs, one row per string, '#' = ink.
const GLYPHS: Record<string, string[]> = {
  '0': ['###', '#.#', '#.#', '#.#', '###'], '1': ['.#.', '##.', '.#.', '.#.', '###'],
  '2': ['###', '..#', '###', '#..', '###'], '3': ['###', '..#', '.##', '..#', '###'],
  '4': ['#.#', '#.#', '###', '..#', '..#'], '5': ['###', '#..', '###', '..#', '###'],
  '6': ['###', '#..', '###', '#.#', '###'], '7': ['###', '..#', '.#.', '.#.', '.#.'],
  '8': ['###', '#.#', '###', '#.#', '###'], '9': ['###', '#.#', '###', '..#', '###'],
  ':': ['...', '.#.', '...', '.#.', '...'], '-': ['...', '...', '###', '...', '...'],
  ' ': ['...', '...', '...', '...', '...'], 'C': ['###', '#..', '#..', '#..', '###'],
  'H': ['#.#', '#.#', '###', '#.#', '#.#'], 'F': ['###', '#..', '##.', '#..', '#..'],
  'S': ['###', '#..', '###', '..#', '###'],
};

// Picture size per stream type (subtype): main, extra 1, extra 2.
const SIZES: ReadonlyArray<[number, number]> = [[640, 360], [320, 180], [160, 90]];
const BARS: ReadonlyArray<[number, number, number]> = [
  [235, 235, 235], [235, 235, 16], [16, 235, 235], [16, 235, 16], [235, 16, 235], [235, 16, 16], [16, 16, 235], [16, 16, 16],
];
export const MJPEG_FPS = 10;
export const MJPEG_BOUNDARY = 'myboundary';

function drawText(rgba: Buffer, width: number, x0: number, y0: number, text: string, scale: number): void {
  let x = x0;
  for (const ch of text) {
    const glyph = GLYPHS[ch] ?? GLYPHS[' ']!;
    for (let gy = 0; gy < 5; gy++) {
      for (let gx = 0; gx < 3; gx++) {
        const ink = glyph[gy]![gx] === '#';
        for (let dy = 0; dy < scale; dy++) {
          for (let dx = 0; dx < scale; dx++) {
            const i = ((y0 + gy * scale + dy) * width + x + gx * scale + dx) * 4;
            if (i < 0 || i + 3 >= rgba.length) continue;
            const v = ink ? 255 : 0;
            rgba[i] = v; rgba[i + 1] = v; rgba[i + 2] = v; rgba[i + 3] = 255;
          }
        }
      }
    }
    x += 4 * scale;
  }
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

function render(channel: number, subtype: number, at: Date, frame: number): Buffer {
  const [width, height] = SIZES[subtype] ?? SIZES[0]!;
  const rgba = Buffer.alloc(width * height * 4);
  const barWidth = Math.ceil(width / BARS.length);
  const second = at.getSeconds();
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      if (y < height * 0.6) {
        const [r, g, b] = BARS[Math.min(BARS.length - 1, Math.floor(x / barWidth))]!;
        rgba[i] = r; rgba[i + 1] = g; rgba[i + 2] = b;
      } else {
        // A ramp that moves with the seconds: a frozen picture is visible at a glance.
        const v = (x * 255 / width + second * 17) % 256;
        rgba[i] = v; rgba[i + 1] = (v + 85) % 256; rgba[i + 2] = (v + 170) % 256;
      }
      rgba[i + 3] = 255;
    }
  }
  const scale = Math.max(1, Math.floor(height / 60));
  const stamp = `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())} ${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(second)}`;
  drawText(rgba, width, 4 * scale, 4 * scale, `CH${channel} S${subtype}`, scale);
  drawText(rgba, width, 4 * scale, 12 * scale, stamp, scale);
  drawText(rgba, width, 4 * scale, 20 * scale, `F${frame}`, scale);
  return jpeg.encode({ data: rgba, width, height }, 75).data;
}

/** A JPEG comment segment (FFFE) inserted right after SOI. */
export function withComment(image: Buffer, comment: string): Buffer {
  const text = Buffer.from(comment, 'latin1');
  const seg = Buffer.alloc(4 + text.length);
  seg[0] = 0xff; seg[1] = 0xfe; seg.writeUInt16BE(text.length + 2, 2);
  text.copy(seg, 4);
  return Buffer.concat([image.subarray(0, 2), seg, image.subarray(2)]);
}

/** Per simulator: the cached picture of each channel and stream, and the open MJPEG streams. */
export class MediaState {
  mjpegStreams = 0;
  snapshots = 0;
  private readonly cache = new Map<string, { second: number; image: Buffer }>();
  private readonly streams = new Set<ServerResponse>();

  /** The picture of this second (frame numbers the MJPEG stream's frames drawn into it). */
  picture(channel: number, subtype: number, now: Date, frame: number): Buffer {
    const key = `${channel}/${subtype}`;
    const second = Math.floor(now.getTime() / 1000);
    const hit = this.cache.get(key);
    if (hit && hit.second === second) return hit.image;
    const image = render(channel, subtype, now, frame);
    this.cache.set(key, { second, image });
    return image;
  }

  track(res: ServerResponse): void {
    this.streams.add(res);
    this.mjpegStreams = this.streams.size;
    res.once('close', () => {
      this.streams.delete(res);
      this.mjpegStreams = this.streams.size;
    });
  }
}

const states = new WeakMap<object, MediaState>();

export function mediaOf(camera: object): MediaState {
  let s = states.get(camera);
  if (!s) states.set(camera, (s = new MediaState()));
  return s;
}

// The camera has one video channel on these models; other channels are refused like the camera does.
function channelOf(req: CgiRequest): number | null {
  const raw = req.url.get('channel');
  if (raw === undefined || raw === '') return 1;
  return /^[1-9]\d{0,2}$/.test(raw) && Number(raw) === 1 ? 1 : null;
}

function subtypeOf(req: CgiRequest): number | null {
  const raw = req.url.get('subtype');
  if (raw === undefined || raw === '') return 0;
  return /^[0-2]$/.test(raw) ? Number(raw) : null;
}

export function snapshot(req: CgiRequest): Reply {
  const channel = channelOf(req);
  if (channel === null) return cameraError(4);
  const media = mediaOf(req.camera);
  media.snapshots++;
  // Snapshots come from the main stream.
  return { status: 200, headers: { 'Content-Type': 'image/jpeg' }, body: media.picture(channel, 0, new Date(), 0) };
}

export function mjpeg(req: CgiRequest): Reply {
  const channel = channelOf(req);
  const subtype = subtypeOf(req);
  if (channel === null || subtype === null) return cameraError(4);
  const media = mediaOf(req.camera);
  return {
    status: 200,
    headers: { 'Content-Type': `multipart/x-mixed-replace; boundary=${MJPEG_BOUNDARY}`, 'Cache-Control': 'no-cache' },
    body: '',
    stream: (_req, res) => {
      media.track(res);
      let frame = 0;
      // A steady rate on a fixed schedule (no drift); a viewer that does not keep up is dropped
      // frames by the camera too: no frame is written while the socket is still full.
      const started = performance.now();
      let timer: NodeJS.Timeout | undefined;
      const tick = (): void => {
        if (res.destroyed || res.writableEnded) return;
        frame++;
        if (res.writableNeedDrain !== true) {
          const image = withComment(media.picture(channel, subtype, new Date(), frame), `frame=${frame}`);
          res.write(`--${MJPEG_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: ${image.length}\r\n\r\n`);
          res.write(image);
          res.write('\r\n');
        }
        const next = started + (frame * 1000) / MJPEG_FPS - performance.now();
        timer = setTimeout(tick, Math.max(0, next));
      };
      res.once('close', () => { if (timer !== undefined) clearTimeout(timer); });
      tick();
    },
  };
}
