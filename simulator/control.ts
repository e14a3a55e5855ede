// Test control for a standalone simulator: flip faults and read counters over HTTP.
// Only served when options.control is set; no auth, no faults, not counted in stats.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { mergeFaults, type Faults } from './faults.ts';

export interface ControlTarget {
  faults: Faults;
  stats: object;
  requestLog: Array<{ method: string; rawUrl: string; status: number; authorized: boolean }>;
  resetStats(): void;
  raiseEvent?: (code: string, action: 'Start' | 'Stop' | 'Pulse', index: number, data?: object) => void;
}

const MAX_BODY = 16 * 1024;

function json(res: ServerResponse, status: number, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value, null, 2) + '\n', 'utf8');
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': String(body.length) });
  res.end(body);
}

function readBody(req: IncomingMessage): Promise<string | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => resolve(size > MAX_BODY ? null : Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => resolve(null));
  });
}

export function handleControl(req: IncomingMessage, res: ServerResponse, target: ControlTarget): void {
  const path = (req.url ?? '').split('?')[0];
  const method = req.method ?? 'GET';
  if (path === '/__sim/faults' && method === 'GET') { json(res, 200, target.faults); return; }
  if (path === '/__sim/faults' && method === 'POST') {
    void readBody(req).then((text) => {
      if (text === null) { json(res, 413, { error: 'body too large' }); return; }
      let patch: unknown;
      try { patch = JSON.parse(text); } catch { json(res, 400, { errors: ['body is not JSON'] }); return; }
      const errors = mergeFaults(target.faults, patch);
      if (errors.length > 0) json(res, 400, { errors });
      else json(res, 200, target.faults);
    });
    return;
  }
  if (path === '/__sim/events' && method === 'POST' && target.raiseEvent) {
    const raise = target.raiseEvent;
    void readBody(req).then((text) => {
      let e: { code?: unknown; action?: unknown; index?: unknown; data?: unknown };
      try { e = JSON.parse(text ?? '') as typeof e; } catch { json(res, 400, { errors: ['body is not JSON'] }); return; }
      const ok = typeof e === 'object' && e !== null && typeof e.code === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(e.code)
        && (e.action === 'Start' || e.action === 'Stop' || e.action === 'Pulse')
        && (e.index === undefined || (typeof e.index === 'number' && Number.isInteger(e.index) && e.index >= 0 && e.index < 256))
        && (e.data === undefined || (typeof e.data === 'object' && e.data !== null && !Array.isArray(e.data)));
      if (!ok) { json(res, 400, { errors: ['expected { code, action: Start|Stop|Pulse, index?: 0..255, data?: object }'] }); return; }
      raise(e.code as string, e.action as 'Start', (e.index as number | undefined) ?? 0, e.data as object | undefined);
      json(res, 200, { raised: true });
    });
    return;
  }
  if (path === '/__sim/stats' && method === 'GET') {
    json(res, 200, { stats: target.stats, requestLog: target.requestLog.slice(-200) });
    return;
  }
  if (path === '/__sim/stats' && method === 'DELETE') { target.resetStats(); json(res, 200, target.stats); return; }
  json(res, 404, { error: 'unknown control endpoint', endpoints: ['GET|POST /__sim/faults', 'GET|DELETE /__sim/stats', 'POST /__sim/events'] });
}
