// Switches that make the simulator misbehave the way cameras do in the field.
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { cameraError, TEXT_PLAIN, type Reply } from './replies.ts';

export interface Faults {
  latencyMs: number;              // delay before every answer
  hang: boolean;                  // accept the request, never answer
  drop: boolean;                  // destroy the socket without an answer
  unauthorizedStorm: boolean;     // 401 + fresh challenge to every request, even valid ones
  newNoncePerResponse: boolean;   // a nonce is good for one request; reuse → 401 stale=true
  maxConnections: number;         // 0 = no cap; connections over the cap get 401 + challenge (field behaviour)
  errorId: number | null;         // answer `Error\r\nErrorID=n, Detail=...` to requests matching errorMatch
  errorMatch: string;             // substring of the raw request URL ('' = every request)
  rawBody: string | Buffer | null; // answer authorized requests matching errorMatch with these exact bytes (200, text/plain)
  // Event streams (eventManager.cgi?action=attach):
  streamStall: boolean;           // attached streams go silent (no events, no heartbeats), connection kept
  streamMalformed: boolean;       // `-- myboundary ` spacing, wrong Content-Length, junk lines between parts
  streamSplitChunks: boolean;     // parts written in 7-byte pieces, a few ms apart
  streamStrayStatusLine: boolean; // `HTTP/1.1 200 OK` and response headers repeated inside the body
  streamReset: boolean;           // attached streams are reset (socket destroyed) at their next write, new ones at once
}

export function defaultFaults(): Faults {
  return {
    latencyMs: 0, hang: false, drop: false, unauthorizedStorm: false, newNoncePerResponse: false,
    maxConnections: 0, errorId: null, errorMatch: '', rawBody: null,
    streamStall: false, streamMalformed: false, streamSplitChunks: false, streamStrayStatusLine: false, streamReset: false,
  };
}

export type Disruption = 'hang' | 'drop' | null;

// hang and drop hit every request, before auth: the camera's web server is what fails.
export function disruption(faults: Faults): Disruption {
  if (faults.drop) return 'drop';
  if (faults.hang) return 'hang';
  return null;
}

export function drop(socket: Socket): void {
  socket.destroy();
}

// An injected camera error (or raw body: hostile or broken firmware output) answers authorized
// requests whose raw URL contains errorMatch.
export function injectedError(faults: Faults, rawUrl: string): Reply | null {
  const raw = faults.rawBody ?? null;
  if ((faults.errorId === null || faults.errorId === undefined) && raw === null) return null;
  if (!rawUrl.includes(faults.errorMatch ?? '')) return null;
  if (raw !== null) return { status: 200, headers: { 'Content-Type': TEXT_PLAIN }, body: raw };
  return cameraError(faults.errorId!);
}

// Delays an answer; the timer is tracked so close() can cancel it.
export function delay(ms: number, timers: Set<NodeJS.Timeout>, res: ServerResponse, send: () => void): void {
  if (!(ms > 0)) { send(); return; }
  const timer = setTimeout(() => { timers.delete(timer); send(); }, ms);
  timers.add(timer);
  res.once('close', () => { clearTimeout(timer); timers.delete(timer); });
}

// Validates a partial Faults object (the control endpoint's POST body).
export function mergeFaults(target: Faults, patch: unknown): string[] {
  const errors: string[] = [];
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return ['body must be a JSON object'];
  const p = patch as Record<string, unknown>;
  const next: Partial<Faults> = {};
  for (const [key, value] of Object.entries(p)) {
    switch (key) {
      case 'latencyMs': case 'maxConnections':
        if (typeof value === 'number' && Number.isInteger(value) && value >= 0) next[key] = value;
        else errors.push(`${key}: expected a non-negative integer`);
        break;
      case 'hang': case 'drop': case 'unauthorizedStorm': case 'newNoncePerResponse':
      case 'streamStall': case 'streamMalformed': case 'streamSplitChunks': case 'streamStrayStatusLine': case 'streamReset':
        if (typeof value === 'boolean') next[key] = value;
        else errors.push(`${key}: expected a boolean`);
        break;
      case 'errorId':
        if (value === null || (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 7)) next.errorId = value;
        else errors.push('errorId: expected null or an integer 0..7');
        break;
      case 'errorMatch':
        if (typeof value === 'string') next.errorMatch = value;
        else errors.push('errorMatch: expected a string');
        break;
      case 'rawBody':
        if (value === null || typeof value === 'string') next.rawBody = value;
        else errors.push('rawBody: expected null or a string');
        break;
      default:
        errors.push(`${key}: unknown fault`);
    }
  }
  if (errors.length === 0) Object.assign(target, next);
  return errors;
}
