// Camera answers and transport failures → the one error catalog (gateway/problems.ts).
// The camera reports most errors as HTTP 200 with an `Error` body (vendor document §3.4).

import { ProblemError, type ProblemCode } from '../../gateway/problems.ts';

/** Vendor table 3-2: ErrorID → our code, and the camera's usual detail for when it sends none. */
const ERROR_IDS: ReadonlyArray<{ code: ProblemCode; text: string }> = [
  { code: 'CAMERA_AUTH_FAILED', text: 'Invalid Authority!' },
  { code: 'CAMERA_PROTOCOL_ERROR', text: 'Request parses error!' },
  { code: 'CAMERA_PROTOCOL_ERROR', text: 'Invalid Request!' },
  { code: 'NOT_SUPPORTED_BY_MODEL', text: 'Method not found!' },
  { code: 'CAMERA_REJECTED', text: 'Request invalid param!' },
  { code: 'CAMERA_ERROR', text: 'Server internal error!' },
  { code: 'CAMERA_TIMEOUT', text: 'Request Timeout!' },
  { code: 'CAMERA_ERROR', text: 'Client keepalive failed!' },
];

// An error body is a few short lines; never scan a large answer.
const HEAD_LIMIT = 4096;
const DETAIL_LIMIT = 200;
const FIRST_LINE = /^\uFEFF?\s*(Error)?[ \t]*(\r?\n|$|ErrorID)/i;
const ERROR_ID = /ErrorID[ \t]*=[ \t]*(\d{1,9})/i;
const DETAIL = /Detail[ \t]*=([^\r\n]*)/i;

function clean(text: string): string {
  const s = text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim();
  return s.length > DETAIL_LIMIT ? `${s.slice(0, DETAIL_LIMIT)}…` : s;
}

interface ParsedError {
  id: number | undefined;
  detail: string | undefined;
}

function parseErrorBody(body: string): ParsedError | null {
  const head = body.length > HEAD_LIMIT ? body.slice(0, HEAD_LIMIT) : body;
  const first = FIRST_LINE.exec(head);
  // Either a first line `Error`, or a bare `ErrorID=` line from firmware that omits it.
  if (first === null || (first[1] === undefined && first[2]?.toLowerCase() !== 'errorid')) return null;
  const idMatch = ERROR_ID.exec(head);
  const detailMatch = DETAIL.exec(head);
  let detail = detailMatch?.[1] !== undefined ? clean(detailMatch[1]) : undefined;
  if (idMatch === null && detail === undefined) {
    // `Error` followed by free text: that text is the camera's explanation.
    const rest = clean(head.slice(first.index + first[0].length));
    detail = rest === '' ? undefined : rest;
  }
  return { id: idMatch?.[1] !== undefined ? Number(idMatch[1]) : undefined, detail: detail === '' ? undefined : detail };
}

function fromParsed(parsed: ParsedError): ProblemError {
  if (parsed.id === undefined) return new ProblemError('CAMERA_REJECTED', { detail: parsed.detail ?? 'The camera answered Error' });
  const known = ERROR_IDS[parsed.id];
  return new ProblemError(known?.code ?? 'CAMERA_REJECTED', {
    detail: parsed.detail ?? known?.text ?? `Camera error ${parsed.id}`,
    cameraErrorId: parsed.id,
  });
}

/** An `Error` / `ErrorID=N, Detail=...` body as a problem; null when the body is not an error. */
export function cameraErrorFromBody(body: string): ProblemError | null {
  const parsed = parseErrorBody(body);
  return parsed === null ? null : fromParsed(parsed);
}

/**
 * A non-2xx answer as a problem; null for 2xx (the caller then checks the body). When the body is
 * an `Error` body with an ErrorID it is more precise than the status, except for the statuses
 * that say something about the connection itself (auth, busy).
 */
export function cameraErrorFromStatus(status: number, body: string): ProblemError | null {
  if (status >= 200 && status < 300) return null;
  const parsed = parseErrorBody(body);
  const cameraSaid = parsed?.detail;
  const detail = cameraSaid === undefined ? `The camera answered HTTP ${status}` : `The camera answered HTTP ${status}: ${cameraSaid}`;
  const extra = parsed?.id === undefined ? {} : { cameraErrorId: parsed.id };
  switch (status) {
    case 401:
    case 403:
      return new ProblemError('CAMERA_AUTH_FAILED', { detail, ...extra });
    case 503:
    case 429:
      return new ProblemError('CAMERA_BUSY', { detail, retryAfter: 1, ...extra });
    case 408:
      return new ProblemError('CAMERA_TIMEOUT', { detail, ...extra });
  }
  if (parsed !== null && parsed.id !== undefined) return fromParsed(parsed);
  if (status === 404) return new ProblemError('NOT_SUPPORTED_BY_MODEL', { detail, ...extra });
  if (status === 400) return new ProblemError('CAMERA_PROTOCOL_ERROR', { detail, ...extra });
  if (status >= 500 && status < 600) return new ProblemError('CAMERA_ERROR', { detail, ...extra });
  if (status >= 400 && status < 500) return new ProblemError('CAMERA_REJECTED', { detail, ...extra });
  // 1xx and 3xx: this API never redirects, so the gateway cannot use such an answer.
  return new ProblemError('CAMERA_PROTOCOL_ERROR', { detail, ...extra });
}

// Short fixed descriptions: undici messages may carry the URL (query string, credentials).
const TIMEOUTS: Record<string, string> = {
  UND_ERR_CONNECT_TIMEOUT: 'connecting to the camera timed out',
  UND_ERR_HEADERS_TIMEOUT: 'the camera did not send its answer in time',
  UND_ERR_BODY_TIMEOUT: 'the camera stopped sending its answer',
  ETIMEDOUT: 'connecting to the camera timed out',
  UND_ERR_ABORTED: 'the camera request was aborted (timeout)',
  UND_ERR_ABORT: 'the camera request was aborted (timeout)',
  ABORT_ERR: 'the camera request was aborted (timeout)',
};
const UNREACHABLE: Record<string, string> = {
  ECONNREFUSED: 'the camera refused the connection',
  ECONNRESET: 'the camera reset the connection',
  EHOSTUNREACH: 'no route to the camera',
  ENETUNREACH: 'no route to the camera network',
  EHOSTDOWN: 'the camera host is down',
  ENOTFOUND: 'the camera host name does not resolve',
  EAI_AGAIN: 'the camera host name does not resolve (temporary)',
  EPIPE: 'the connection to the camera broke',
  UND_ERR_SOCKET: 'the connection to the camera closed unexpectedly',
  UND_ERR_CLOSED: 'the camera client is closed',
  UND_ERR_DESTROYED: 'the camera client is closed',
};
const PROTOCOL: Record<string, string> = {
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'the camera answer was shorter or longer than announced',
  UND_ERR_RES_EXCEEDED_MAX_SIZE: 'the camera answer was too large',
  UND_ERR_HEADERS_OVERFLOW: 'the camera sent too many headers',
  UND_ERR_INFO: 'the camera sent an unexpected informational answer',
};

function props(err: unknown): { name?: string; code?: string; cause?: unknown; errors?: unknown } {
  return typeof err === 'object' && err !== null ? (err as { name?: string; code?: string; cause?: unknown; errors?: unknown }) : {};
}

function safeCode(code: unknown): string | undefined {
  return typeof code === 'string' && /^[A-Z0-9_]{1,48}$/.test(code) ? code : undefined;
}

/** A failed undici call as CAMERA_TIMEOUT / CAMERA_UNREACHABLE (or CAMERA_PROTOCOL_ERROR for garbage HTTP). */
export function transportError(err: unknown): ProblemError {
  if (err instanceof ProblemError) return err;
  // Follow `cause` and AggregateError (happy eyeballs tries several addresses) to the root.
  const seen: unknown[] = [];
  let current: unknown = err;
  let fallbackCode: string | undefined;
  while (current !== undefined && current !== null && seen.length < 8 && !seen.includes(current)) {
    seen.push(current);
    const { name, code, cause, errors } = props(current);
    const c = safeCode(code);
    if (name === 'TimeoutError' || name === 'AbortError' || (c !== undefined && c in TIMEOUTS)) {
      const text = c !== undefined && c in TIMEOUTS ? TIMEOUTS[c] : 'the camera request was aborted (timeout)';
      return new ProblemError('CAMERA_TIMEOUT', { detail: `${text}${c === undefined ? '' : ` (${c})`}` });
    }
    if (c !== undefined && c in UNREACHABLE) return new ProblemError('CAMERA_UNREACHABLE', { detail: `${UNREACHABLE[c]} (${c})` });
    if (name === 'HTTPParserError' || (c !== undefined && (c in PROTOCOL || c.startsWith('HPE_')))) {
      const text = (c !== undefined ? PROTOCOL[c] : undefined) ?? 'the camera sent malformed HTTP';
      return new ProblemError('CAMERA_PROTOCOL_ERROR', { detail: `${text}${c === undefined ? '' : ` (${c})`}` });
    }
    fallbackCode ??= c;
    current = cause ?? (Array.isArray(errors) ? errors[0] : undefined);
  }
  return new ProblemError('CAMERA_UNREACHABLE', {
    detail: `the camera connection failed${fallbackCode === undefined ? '' : ` (${fallbackCode})`}`,
  });
}
