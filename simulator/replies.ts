// What the camera sends back: plain-text bodies with CRLF line ends and the vendor's error bodies.
import type { IncomingMessage, ServerResponse } from 'node:http';

// Vendor document, table 3-2.
export const ERROR_DETAILS: Readonly<Record<number, string>> = {
  0: 'Invalid Authority!',
  1: 'Request parses error!',
  2: 'Invalid Request!',
  3: 'Method not found!',
  4: 'Request invalid param!',
  5: 'Server internal error!',
  6: 'Request Timeout!',
  7: 'Client keepalive failed!',
};

export const TEXT_PLAIN = 'text/plain;charset=utf-8';

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body: string | Buffer;
  afterSend?: () => void;   // runs once the answer has left (reboot goes down after its OK)
  /** A long or endless body (media streams, downloads, uploads): takes over once the head is written; `body` is ignored. */
  stream?: (req: IncomingMessage, res: ServerResponse) => void;
}

export function crlf(text: string): string {
  const normalized = text.replace(/\r?\n/g, '\r\n');
  return normalized.endsWith('\r\n') || normalized === '' ? normalized : normalized + '\r\n';
}

export function text(body: string, status = 200): Reply {
  return { status, headers: { 'Content-Type': TEXT_PLAIN }, body: crlf(body) };
}

export function errorBody(id: number): string {
  return `Error\r\nErrorID=${id}, Detail=${ERROR_DETAILS[id] ?? 'Unknown error!'}\r\n`;
}

// The camera answers errors of a well-formed request with HTTP 200 and an `Error` body (§3.4).
export function cameraError(id: number): Reply {
  return text(errorBody(id), 200);
}

export const ok = (): Reply => text('OK');
