// Value formats named by x-cgi `format` (openapi/README.md). The camera's local time format is
// converted here and nowhere else.
import { ProblemError } from '../../gateway/problems.ts';

const CAMERA_TIME = /^\s*(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2}):(\d{1,2}):(\d{1,2})\s*$/;
const ISO_LOCAL = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$/;

const pad = (n: string | number): string => String(n).padStart(2, '0');

/** Camera `2011-7-3 21:02:32` → ISO 8601 local date-time `2011-07-03T21:02:32` (the camera has no zone). */
export function cameraTimeToIso(value: string): string {
  const m = CAMERA_TIME.exec(value);
  if (!m) throw new ProblemError('CAMERA_PROTOCOL_ERROR', { detail: 'the camera sent a time the gateway cannot read' });
  const [, y, mo, d, h, mi, s] = m as unknown as [string, string, string, string, string, string, string];
  return `${y}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}:${pad(s)}`;
}

/** ISO 8601 local date-time → the camera's `2016-01-01 21:02:32`. The document's pattern has already checked the shape. */
export function isoToCameraTime(value: string, pointer: string): string {
  const m = ISO_LOCAL.exec(value);
  const invalid = () =>
    new ProblemError('VALIDATION_FAILED', { errors: [{ pointer, message: 'must be a local date-time YYYY-MM-DDTHH:mm:ss' }] });
  if (!m) throw invalid();
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  // Date.UTC rolls 2023-02-30 over to March: a changed field means the date does not exist.
  if (date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) throw invalid();
  return `${y}-${pad(mo)}-${pad(d)} ${pad(h)}:${pad(mi)}:${pad(s)}`;
}

export function fromCamera(format: string | undefined, value: string): unknown {
  switch (format) {
    case undefined:
      return value;
    case 'cameraTime':
      return cameraTimeToIso(value);
    case 'list':
      return value
        .split(',')
        .map((v) => v.trim())
        .filter((v) => v.length > 0);
    case 'trim':
      return value.trim();
    case 'bitset':
      return bitsToChannels(value);
    default:
      throw new Error(`unknown x-cgi format ${format}`);
  }
}

/** `5` (bits 0 and 2) → channels [1, 3]: bit n is channel n+1, as the camera's URLs count. */
function bitsToChannels(value: string): number[] {
  const trimmed = value.trim();
  if (!/^\d{1,10}$/.test(trimmed) || Number(trimmed) > 0xffffffff) {
    throw new ProblemError('CAMERA_PROTOCOL_ERROR', { detail: 'the camera sent a state the gateway cannot read' });
  }
  const bits = Number(trimmed);
  const channels: number[] = [];
  for (let n = 0; n < 32; n++) if (Math.floor(bits / 2 ** n) % 2 === 1) channels.push(n + 1);
  return channels;
}

export function toCamera(format: string | undefined, value: unknown, pointer: string): unknown {
  switch (format) {
    case undefined:
    case 'trim':
      return value;
    case 'cameraTime':
      return isoToCameraTime(String(value), pointer);
    case 'list':
      return Array.isArray(value) ? value.join(',') : value;
    case 'bitset':
      return Array.isArray(value) ? String(value.reduce((bits: number, ch) => bits + 2 ** (Number(ch) - 1), 0)) : value;
    default:
      throw new Error(`unknown x-cgi format ${format}`);
  }
}

export const KNOWN_FORMATS = new Set(['cameraTime', 'list', 'trim', 'bitset']);
