// A streaming reader of multipart/x-mixed-replace bodies (MJPEG, vendor §4.2.1): whole parts out,
// whatever the chunking. Pure: no I/O, so it is tested table-driven with split and odd inputs.
//
// Tolerates what cameras send: a boundary given with or without its leading `--`, `-- boundary`
// with a space, LF instead of CRLF, parts with or without Content-Length (without it, a part
// runs to the next boundary line). A part larger than `maxPartBytes` is dropped and the reader
// resynchronises on the next boundary, so a broken stream never grows memory.

export interface Part { headers: Record<string, string>; body: Buffer }

export function boundaryOf(contentType: string): string | null {
  const m = /;\s*boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const raw = m?.[1] ?? m?.[2];
  if (raw === undefined) return null;
  // Some firmware writes `boundary=--myboundary` and then `--myboundary` lines: match the bare token.
  const bare = raw.replace(/^-+/, '');
  return bare === '' ? null : bare;
}

export class MultipartReader {
  private buf: Buffer = Buffer.alloc(0);
  private readonly token: Buffer;
  /** Parts dropped for size or for a broken header block. */
  dropped = 0;

  constructor(boundary: string, private readonly maxPartBytes = 8 * 1024 * 1024) {
    this.token = Buffer.from(boundary, 'latin1');
  }

  /** Bytes held waiting for the rest of a part. */
  get buffered(): number { return this.buf.length; }

  push(chunk: Buffer): Part[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const parts: Part[] = [];
    for (;;) {
      const part = this.next();
      if (part === undefined) break;
      if (part !== null) parts.push(part);
    }
    if (this.buf.length > this.maxPartBytes + 4096) {
      // No complete part in far more than one part's worth: keep only what may start the next boundary.
      this.dropped++;
      this.buf = Buffer.from(this.buf.subarray(this.buf.length - this.token.length - 8));
    }
    return parts;
  }

  /** A delimiter line: `--` (optionally followed by spaces) then the token, at a line start. */
  private findDelimiter(from: number): { start: number; end: number } | null {
    let i = from;
    for (;;) {
      const at = this.buf.indexOf(this.token, i);
      if (at < 0) return null;
      let s = at - 1;
      while (s >= 0 && this.buf[s] === 0x20) s--;
      if (s >= 1 && this.buf[s] === 0x2d && this.buf[s - 1] === 0x2d) {
        const lineStart = s - 1;
        if (lineStart === 0 || this.buf[lineStart - 1] === 0x0a) return { start: lineStart, end: at + this.token.length };
      }
      i = at + 1;
    }
  }

  /** undefined: need more bytes; null: something was consumed without a part; else a part. */
  private next(): Part | null | undefined {
    const d = this.findDelimiter(0);
    if (d === null) {
      // Nothing to start from: keep just enough to recognise a delimiter split across chunks.
      const keep = this.token.length + 16;
      if (this.buf.length > keep) this.buf = Buffer.from(this.buf.subarray(this.buf.length - keep));
      return undefined;
    }
    // The end of the delimiter line (`--token--` ends the body; anything else on the line is padding).
    const eol = this.buf.indexOf(0x0a, d.end);
    if (eol < 0) return undefined;
    const headerEnd = headersEnd(this.buf, eol + 1);
    if (headerEnd === null) {
      if (this.buf.length - eol > 16 * 1024) { this.dropped++; this.buf = Buffer.from(this.buf.subarray(eol + 1)); return null; }
      return undefined;
    }
    const headers = parseHeaders(this.buf.subarray(eol + 1, headerEnd.start).toString('latin1'));
    const bodyStart = headerEnd.end;
    const declared = headers['content-length'];
    if (declared !== undefined && /^\s*\d+\s*$/.test(declared)) {
      const length = Number(declared);
      if (length > this.maxPartBytes) {
        this.dropped++;
        this.buf = Buffer.from(this.buf.subarray(bodyStart));
        return null;
      }
      if (this.buf.length < bodyStart + length) return undefined;
      const body = Buffer.from(this.buf.subarray(bodyStart, bodyStart + length));
      this.buf = this.buf.subarray(bodyStart + length);
      return { headers, body };
    }
    // No length: the part runs to the next delimiter line, less the line break before it.
    const nextD = this.findDelimiter(bodyStart);
    if (nextD === null) return undefined;
    let end = nextD.start;
    if (end > bodyStart && this.buf[end - 1] === 0x0a) end--;
    if (end > bodyStart && this.buf[end - 1] === 0x0d) end--;
    const body = Buffer.from(this.buf.subarray(bodyStart, end));
    this.buf = this.buf.subarray(nextD.start);
    return { headers, body };
  }
}

function headersEnd(buf: Buffer, from: number): { start: number; end: number } | null {
  // An empty header block: the blank line comes at once.
  if (buf[from] === 0x0a) return { start: from, end: from + 1 };
  if (buf[from] === 0x0d && buf[from + 1] === 0x0a) return { start: from, end: from + 2 };
  const crlf = buf.indexOf('\r\n\r\n', from, 'latin1');
  const lf = buf.indexOf('\n\n', from, 'latin1');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { start: crlf, end: crlf + 4 };
  if (lf >= 0) return { start: lf, end: lf + 2 };
  return null;
}

function parseHeaders(block: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of block.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (name === '__proto__' || name === 'constructor' || name === 'prototype') continue;
    headers[name] = line.slice(colon + 1).trim();
  }
  return headers;
}
