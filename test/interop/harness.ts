// The interop suite's gateway: a simulator with its control endpoints (clients raise events over
// HTTP), a gateway in front of it with WS-Discovery on, every ONVIF answer recorded for XSD
// validation, and the pass table (client × operation) written to test-results/interop/.
import { createSocket, type Socket } from 'node:dgram';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync, createWriteStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { MULTICAST_GROUP, DISCOVERY_PORT } from '../../adapters/onvif/discovery.ts';
import { startGateway, type RunningGateway } from '../../gateway/gateway.ts';
import { createLogger } from '../../gateway/logger.ts';
import { startSimulator, type Simulator } from '../../simulator/server.ts';
import { ONVIF_DIR, validateSoapMany } from './xsd.ts';

export { ONVIF_DIR };
export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const RESULTS_DIR = join(REPO, 'test-results/interop');
export const ADMIN = { name: 'admin', password: 'Interop-admin-pass-1' };
export const CAMERA_PASSWORD = 'Interop-cam-pass-1';
export const CAMERA_ID = 'cam1';

/** The rows of the pass table, in order. */
export const OPERATIONS = [
  'Discovery',
  'GetSystemDateAndTime',
  'GetDeviceInformation',
  'GetCapabilities',
  'GetServices',
  'GetNetworkInterfaces',
  'GetProfiles',
  'GetStreamUri',
  'Media2',
  'GetSnapshotUri',
  'GetImagingSettings',
  'SetImagingSettings',
  'GetEventProperties',
  'PullPointEvent',
  'HttpDigest',
  'Soap11',
  'WrongPassword',
  'ReplayedToken',
  'XsdValid',
] as const;
export type Operation = (typeof OPERATIONS)[number];
export const CLIENTS = ['zeep', 'onvif (npm)', 'onvif-util', 'soap (npm)'] as const;
export type ClientName = (typeof CLIENTS)[number];

export interface OpResult {
  status: 'pass' | 'fail' | 'n/a';
  detail: string;
}

/** The suite needs ../shared/onvif and a private network namespace with multicast on lo. */
export function checkPrerequisites(): void {
  if (!existsSync(join(ONVIF_DIR, 'wsdl/ver10/schema/onvif.xsd'))) {
    throw new Error(`the ONVIF WSDLs and schemas are missing at ${ONVIF_DIR}: the interop suite needs ../shared/onvif`);
  }
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).trim().split('\n');
  const routes = execFileSync('ip', ['route', 'show', 'table', 'all'], { encoding: 'utf8' });
  if (links.length !== 1 || !/^\d+: lo:/.test(links[0]!) || !/224\.0\.0\.0\/4 dev lo/.test(routes)) {
    throw new Error('run the interop suite through test/interop/run.sh: it needs a private network namespace (only lo, multicast routed on lo)');
  }
}

export interface RecordedAnswer {
  path: string;
  status: number;
  contentType: string;
  body: string;
}

export interface Interop {
  gateway: RunningGateway;
  sim: Simulator;
  /** http://127.0.0.1:port */
  origin: string;
  deviceXAddr: string;
  /** Every ONVIF answer the gateway sent, in order. */
  answers: RecordedAnswer[];
  /** WS-Discovery messages seen on the multicast group (Hello at start, Bye at stop). */
  multicast: string[];
  stop(): Promise<void>;
}

export async function startInterop(): Promise<Interop> {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const multicast: string[] = [];
  const listener = await joinGroup(multicast);
  const sim = await startSimulator({ model: 'WV-V2530LK', username: 'admin', password: CAMERA_PASSWORD, control: true });
  // A correctly set camera: its wall clock is the host's UTC, so its zone is UTC (the seed says
  // +05:45). The suite's wrong-clock check moves it away again.
  sim.setConfigValue('table.NTP.TimeZone', '0');
  const log = createWriteStream(join(RESULTS_DIR, 'gateway.log'));
  const gateway = await startGateway(
    {
      host: '127.0.0.1',
      port: 0,
      cameras: [{ id: CAMERA_ID, baseUrl: sim.url, username: 'admin', password: CAMERA_PASSWORD, model: 'WV-V2530LK', name: 'Interop camera' }],
      users: [{ name: ADMIN.name, password: ADMIN.password, role: 'admin' }],
      tokens: [],
      docsPublic: true,
      logLevel: 'info',
      discovery: true,
    },
    createLogger('info', log),
  );
  const answers: RecordedAnswer[] = [];
  gateway.server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => record(req, res, answers));
  const port = (gateway.server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;
  let stopping: Promise<void> | undefined;
  return {
    gateway,
    sim,
    origin,
    deviceXAddr: `${origin}/onvif/${CAMERA_ID}/device_service`,
    answers,
    multicast,
    stop: () =>
      (stopping ??= (async () => {
        await gateway.stop();
        // The Bye goes out during stop; give loopback a moment to deliver it.
        await new Promise((r) => setTimeout(r, 200));
        listener.close();
        await sim.close();
        log.end();
        // Every answer, for reading a failure with its XML.
        writeFileSync(join(RESULTS_DIR, 'answers.jsonl'), answers.map((a) => JSON.stringify(a)).join('\n') + '\n');
      })()),
  };
}

/** Keeps a copy of every /onvif answer as it is written. */
function record(req: IncomingMessage, res: ServerResponse, into: RecordedAnswer[]): void {
  if (!req.url?.startsWith('/onvif')) return;
  const chunks: Buffer[] = [];
  const keep = (chunk: unknown, encoding?: unknown) => {
    if (chunk === undefined || chunk === null || typeof chunk === 'function') return;
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8'));
  };
  const write = res.write.bind(res) as (...args: unknown[]) => boolean;
  const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
  res.write = ((chunk: unknown, ...rest: unknown[]) => {
    keep(chunk, rest[0]);
    return write(chunk, ...rest);
  }) as typeof res.write;
  res.end = ((chunk?: unknown, ...rest: unknown[]) => {
    keep(chunk, rest[0]);
    return end(chunk, ...rest);
  }) as typeof res.end;
  res.once('finish', () => {
    const contentType = String(res.getHeader('content-type') ?? '');
    if (/xml/.test(contentType)) into.push({ path: req.url ?? '', status: res.statusCode, contentType, body: Buffer.concat(chunks).toString('utf8') });
  });
}

function joinGroup(into: string[]): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket({ type: 'udp4', reuseAddr: true });
    socket.on('message', (m) => into.push(m.toString('utf8')));
    socket.once('error', reject);
    socket.bind(DISCOVERY_PORT, () => {
      socket.addMembership(MULTICAST_GROUP);
      resolve(socket);
    });
  });
}

/** The response element's local name: `GetProfilesResponse`, `Fault`. */
export function answerName(body: string): string {
  const m = /<(?:[\w.-]+:)?Body\b[^>]*>\s*<(?:[\w.-]+:)?([\w.-]+)/.exec(body);
  return m?.[1] ?? '?';
}

/** Validates answers against the official schemas; a failure names the operation and the XML. */
export async function xsdCheck(answers: readonly RecordedAnswer[]): Promise<OpResult> {
  if (answers.length === 0) return { status: 'fail', detail: 'no SOAP answers were recorded' };
  const results = await validateSoapMany(answers.map((a) => a.body));
  const bad = results
    .map((r, i) => ({ r, a: answers[i]! }))
    .filter(({ r }) => !r.ok)
    .map(({ r, a }) => `${answerName(a.body)} (${a.path}): ${r.errors.slice(0, 3).join(' | ')}\n    ${a.body.slice(0, 1500)}`);
  const names = [...new Set(answers.map((a) => answerName(a.body)))].join(', ');
  return bad.length === 0
    ? { status: 'pass', detail: `${answers.length} answers valid (${names})` }
    : { status: 'fail', detail: `${bad.length} of ${answers.length} answers invalid:\n  ${bad.join('\n  ')}` };
}

export function writeResults(client: ClientName, results: Partial<Record<Operation, OpResult>>): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, `${client.replace(/[^a-z0-9-]+/gi, '_')}.json`), JSON.stringify({ client, results }, null, 2));
}

/** The README table from the per-client result files. */
export function passTable(): string {
  const files = readdirSync(RESULTS_DIR).filter((f) => f.endsWith('.json'));
  const byClient = new Map<string, Partial<Record<Operation, OpResult>>>();
  for (const f of files) {
    const { client, results } = JSON.parse(readFileSync(join(RESULTS_DIR, f), 'utf8')) as { client: string; results: Partial<Record<Operation, OpResult>> };
    byClient.set(client, results);
  }
  const clients = CLIENTS.filter((c) => byClient.has(c));
  const mark = (r: OpResult | undefined) => (r === undefined ? '—' : r.status === 'pass' ? 'pass' : r.status === 'n/a' ? 'n/a' : '**FAIL**');
  const lines = [`| Operation | ${clients.join(' | ')} |`, `| --- | ${clients.map(() => '---').join(' | ')} |`];
  for (const op of OPERATIONS) lines.push(`| ${op} | ${clients.map((c) => mark(byClient.get(c)?.[op])).join(' | ')} |`);
  return lines.join('\n');
}
