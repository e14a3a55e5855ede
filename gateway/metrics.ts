// Prometheus metrics (/metrics): the gateway's own requests, the problems it answered, and each
// camera's client state read at scrape time, so the hot path only bumps two counters.
import type { RequestHandler } from 'express';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { existingHub } from '../adapters/events/hub.ts';
import { mjpegStats } from '../adapters/media/mjpeg.ts';
import type { CameraRegistry } from './cameras.ts';

// An unlimited budget (tests switch it off) is not a number Prometheus can take.
const finite = (n: number): number => (Number.isFinite(n) ? n : -1);
const BREAKER_LEVEL = { closed: 0, 'half-open': 1, open: 2 } as const;

export interface Metrics {
  registry: Registry;
  /** Counts a finished API request; `operation` is the operationId or `unmatched`. */
  observe(operation: string, method: string, status: number, seconds: number, cameraId?: string): void;
  problem(code: string, cameraId?: string): void;
}

export function createMetrics(cameras: CameraRegistry): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'camgate_' });

  const requests = new Counter({
    name: 'camgate_http_requests_total',
    help: 'API requests answered, by operation, method and status',
    labelNames: ['operation', 'method', 'status'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'camgate_http_request_duration_seconds',
    help: 'API request latency, by operation',
    labelNames: ['operation'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 6, 10],
    registers: [registry],
  });
  const problems = new Counter({
    name: 'camgate_problems_total',
    help: 'Problem answers, by catalog code',
    labelNames: ['code'],
    registers: [registry],
  });

  const cameraDuration = new Histogram({
    name: 'camgate_camera_api_request_duration_seconds',
    help: 'Time to answer API requests for one camera (all operations)',
    labelNames: ['camera'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 6, 10],
    registers: [registry],
  });
  const cameraProblems = new Counter({
    name: 'camgate_camera_problems_total',
    help: 'Problems answered for one camera, by catalog code',
    labelNames: ['camera', 'code'],
    registers: [registry],
  });

  // Camera client state is read when Prometheus scrapes, not tracked per request.
  const perCamera = (name: string, help: string, read: (c: ReturnType<CameraRegistry['list']>[number]) => number, type: 'counter' | 'gauge') => {
    const Metric = type === 'counter' ? Counter : Gauge;
    new Metric({
      name,
      help,
      labelNames: ['camera'],
      registers: [registry],
      collect(this: Counter<'camera'> | Gauge<'camera'>) {
        this.reset();
        for (const entry of cameras.list()) {
          const value = read(entry);
          if (this instanceof Counter) this.inc({ camera: entry.id }, value);
          else this.set({ camera: entry.id }, value);
        }
      },
    });
  };
  perCamera('camgate_camera_requests_total', 'HTTP requests sent to the camera', (e) => e.client.stats.requests, 'counter');
  perCamera('camgate_camera_auth_challenges_total', '401 answers received from the camera', (e) => e.client.stats.authRoundTrips, 'counter');
  perCamera('camgate_camera_auth_failures_total', 'Genuine credential refusals (what the breaker counts)', (e) => e.client.stats.authFailures, 'counter');
  perCamera('camgate_camera_retries_total', 'Read retries after a connection failure or a 503', (e) => e.client.stats.retries, 'counter');
  perCamera('camgate_camera_breaker_state', 'Login breaker: 0 closed, 1 half-open, 2 open', (e) => BREAKER_LEVEL[e.client.breaker.state], 'gauge');
  perCamera('camgate_camera_login_budget_remaining', 'Refused logins the camera may still see from us in the sliding 300 s window (0: logins suspended)', (e) => finite(e.client.breaker.budget.remaining), 'gauge');
  perCamera('camgate_camera_login_refusals_window', 'Refused logins inside the sliding 300 s window', (e) => e.client.breaker.budget.failed, 'gauge');
  perCamera('camgate_camera_in_flight', 'Camera requests in flight now', (e) => e.client.inFlight, 'gauge');
  perCamera('camgate_camera_queue_depth', 'Camera requests waiting for a slot', (e) => e.client.queued, 'gauge');
  perCamera('camgate_camera_mjpeg_viewers', 'MJPEG viewers watching the camera now (all channels and streams)', (e) => mjpegStats(e).reduce((n, h) => n + h.viewers, 0), 'gauge');
  perCamera('camgate_camera_event_subscribers', 'Consumers of the camera\'s event stream now (SSE clients and ONVIF subscriptions)', (e) => existingHub(e)?.subscriberCount ?? 0, 'gauge');
  perCamera('camgate_camera_event_stream_up', 'The camera\'s event attach is connected (1) or not (0)', (e) => (existingHub(e)?.connected ? 1 : 0), 'gauge');
  perCamera('camgate_camera_last_event_age_seconds', 'Seconds since the camera\'s last event (-1: none yet)', (e) => lastEventAge(e), 'gauge');
  perCamera('camgate_camera_in_flight_limit', 'Requests the camera may have in flight (lowered after a connection shortage)', (e) => e.client.inFlightLimit, 'gauge');

  return {
    registry,
    observe(operation, method, status, seconds, cameraId) {
      requests.inc({ operation, method, status: String(status) });
      duration.observe({ operation }, seconds);
      // Only configured cameras get series: ids from URLs must not grow the label set.
      if (cameraId !== undefined && cameras.get(cameraId)) cameraDuration.observe({ camera: cameraId }, seconds);
    },
    problem(code, cameraId) {
      problems.inc({ code });
      if (cameraId !== undefined && cameras.get(cameraId)) cameraProblems.inc({ camera: cameraId, code });
    },
  };
}

function lastEventAge(entry: Parameters<typeof existingHub>[0]): number {
  const hub = existingHub(entry);
  const last = hub && hub.lastId > 0 ? hub.since(hub.lastId - 1)[0] : undefined;
  return last ? Math.max(0, (Date.now() - Date.parse(last.gatewayTime)) / 1000) : -1;
}

export function metricsEndpoint(metrics: Metrics): RequestHandler {
  return async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  };
}
