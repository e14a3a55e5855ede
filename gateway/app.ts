// buildApp(deps): the Express application. Everything it talks to comes in through deps, so tests
// build it against the simulator and the same code runs in production.
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { fileURLToPath } from 'node:url';
import swaggerUi from 'swagger-ui-express';
import { compileCgiHandler, type OperationHandler } from '../adapters/rest/translator.ts';
import { builtinHandlers, type HandlerContext, type HandlerFactory } from '../adapters/rest/handlers.ts';
import { mayAccessCamera, roleAllows, type Principal, type UserStore } from './auth.ts';
import type { CameraRegistry } from './cameras.ts';
import type { Logger } from './logger.ts';
import { ProblemError, isProblem, type FieldError } from './problems.ts';
import { createMetrics, metricsEndpoint, type Metrics } from './metrics.ts';
import type { LoadedSpec, Operation } from './spec.ts';
import { operationValidator } from './validator.ts';
import { RouteIndex } from './route-index.ts';
import { installFastLane } from './fast-lane.ts';
import { paramCheck } from './param-validator.ts';
import { RateLimiter, rateLimitUser } from './rate-limit.ts';
import { onvifRouter, type OnvifRouter } from '../adapters/onvif/router.ts';
import { onvifServices } from '../adapters/onvif/services.ts';
import type { OnvifService } from '../adapters/onvif/service.ts';

export interface AppDeps {
  spec: LoadedSpec;
  cameras: CameraRegistry;
  users: UserStore;
  logger: Logger;
  /** Validate every response against the document (tests turn it on). */
  validateResponses?: boolean;
  /** /docs and /openapi.json without credentials (design.md §8: public by default). */
  docsPublic?: boolean;
  /** A per-process secret: requests carrying it compile the validators and stop there. */
  warmupToken?: string;
  /** /readyz answers 200 only while this says so. */
  isReady?: () => boolean;
  handlers?: Record<string, HandlerFactory>;
  /** The ONVIF services (default: all of adapters/onvif/services.ts). */
  onvifServices?: readonly OnvifService[];
  /** `http(s)://host:port` for ONVIF XAddrs and URIs instead of each request's Host. */
  onvifPublicOrigin?: string;
  /** Token buckets for `x-rate-limit` operations (default: DEFAULT_RATE_LIMITS); share it with ONVIF. */
  rateLimiter?: RateLimiter;
  /** gateway/fast-lane.ts in front of express (default on; tests turn it off for a reference app). */
  fastPaths?: boolean;
}

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal;
    warmup?: boolean;
  }
}

export const WARMUP_HEADER = 'x-camgate-warmup';
const JSON_LIMIT = '64kb';
/** The Problem schema's bound on `errors`. */
const MAX_FIELD_ERRORS = 100;

export function buildApp(deps: AppDeps): express.Express {
  const { spec, logger } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');

  const metrics = createMetrics(deps.cameras);
  const log = accessLog(logger, metrics, spec.basePath);
  app.use(log);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    const ready = deps.isReady ? deps.isReady() : true;
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'starting' });
  });

  // Scraped with a gateway user or token like any other endpoint (design.md §8).
  app.get('/metrics', authenticate(deps), everyCamera, metricsEndpoint(metrics));

  const documentJson = JSON.stringify(spec.document);
  const docsGuard: RequestHandler[] = deps.docsPublic === false ? [authenticate(deps)] : [];
  app.get('/openapi.json', ...docsGuard, (_req, res) => {
    res.type('application/json').send(documentJson);
  });
  app.use(
    '/docs',
    ...docsGuard,
    swaggerUi.serve,
    swaggerUi.setup(docsDocument(spec.document, deps.cameras.list()[0]?.id), {
      customSiteTitle: 'camgate API',
      swaggerOptions: { persistAuthorization: true, displayOperationId: true, tryItOutEnabled: true },
    }),
  );

  // ONVIF: its own auth (HTTP Digest, WS-UsernameToken) and SOAP faults, before the JSON API.
  // One limiter for both faces: a user's PTZ moves over REST and ONVIF share a budget.
  const rateLimiter = deps.rateLimiter ?? new RateLimiter();
  const onvifDeps: Parameters<typeof onvifRouter>[0] = { cameras: deps.cameras, users: deps.users, logger, services: deps.onvifServices ?? onvifServices, rateLimiter };
  if (deps.onvifPublicOrigin !== undefined) onvifDeps.publicOrigin = deps.onvifPublicOrigin;
  const onvif = onvifRouter(onvifDeps);
  app.locals.onvif = onvif;
  app.use('/onvif', onvif.router);

  const api = express.Router();
  const auth = authenticate(deps);
  api.use(auth);
  api.use(express.json({ limit: JSON_LIMIT, type: ['application/json', 'application/*+json'] }));
  const notFound: RequestHandler = (req, _res, next) => next(new ProblemError('NOT_FOUND', { detail: `no resource at ${req.path}` }));
  const index = mountOperations(api, { ...deps, rateLimiter }, deps.fastPaths === false ? undefined : { before: [log, auth] });
  app.use(spec.basePath, api);
  // The live page: public static files (no secrets in them). After the API, so that API requests
  // never cost a file-system look-up.
  app.use(express.static(PUBLIC_DIR, { index: 'index.html', redirect: false }));

  app.use(notFound);
  const onError = errorHandler(logger, metrics);
  app.use(onError);
  if (deps.fastPaths !== false) {
    installFastLane(app, { index, basePath: spec.basePath, declineHeader: WARMUP_HEADER, fallThrough: notFound, onError, expressObjects: deps.validateResponses === true });
  }
  return app;
}

/** Fleet-wide views (/metrics names every camera) only for principals without an access list. */
const everyCamera: RequestHandler = (req, _res, next) => {
  if (req.principal?.cameras !== undefined) next(new ProblemError('FORBIDDEN', { detail: 'the metrics cover every camera: a user or token limited to some cameras may not read them' }));
  else next();
};

/** The ONVIF router of an app built by buildApp (to end its subscriptions at stop). */
export function onvifOf(app: express.Express): OnvifRouter {
  return app.locals.onvif as OnvifRouter;
}

const PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url));

/**
 * The copy Swagger UI shows: `cameraId` defaults to the first configured camera so Try-it-out
 * works right away. The document itself (and /openapi.json) keeps its `example`.
 */
export function docsDocument(document: object, firstCameraId: string | undefined): object {
  const copy = structuredClone(document) as { components?: { parameters?: Record<string, { schema?: Record<string, unknown>; example?: unknown }> } };
  const param = copy.components?.parameters?.CameraId;
  if (param && firstCameraId !== undefined) {
    param.schema = { ...param.schema, default: firstCameraId };
    param.example = firstCameraId;
  }
  return copy;
}

/** The app's handlers that run before an operation's route in a fast-lane chain. */
interface LaneEnds { before: RequestHandler[] }

function mountOperations(router: express.Router, deps: AppDeps, lane: LaneEnds | undefined): RouteIndex {
  const { spec } = deps;
  const handlers = { ...builtinHandlers, ...deps.handlers };
  const limiter = deps.rateLimiter ?? new RateLimiter();
  const ctx: HandlerContext = {
    spec,
    cameras: deps.cameras,
    camera: (req) => {
      const entry = deps.cameras.get(String(req.params.cameraId));
      if (!entry) throw new ProblemError('NOT_FOUND', { detail: `no camera ${String(req.params.cameraId)}` });
      return entry.camera;
    },
    warn: (details, message) => deps.logger.warn(details, message),
    validateResponses: deps.validateResponses === true,
  };
  const index = new RouteIndex();
  router.use(index.dispatch);
  for (const op of spec.operations) {
    let handler: OperationHandler;
    if (op.handler) {
      const factory = handlers[op.handler];
      if (!factory) throw new Error(`${op.operationId}: no hand-written handler named ${op.handler}`);
      handler = factory(ctx, op);
    } else if (op.cgi.length > 0) {
      handler = compileCgiHandler(ctx, op);
    } else {
      throw new Error(`${op.operationId} has neither x-cgi nor x-handler`);
    }
    const run: RequestHandler = (req, res) => {
      if (req.warmup) {
        res.statusCode = 204;
        res.end();
        return undefined;
      }
      return handler(req, res);
    };
    // The route is the operation: its role check, its validator and its handler, in that order.
    const validator = operationValidator(spec, op, deps.validateResponses === true);
    const chain: RequestHandler[] = [authorize(op), ...validator, ...rateLimit(op, limiter, deps.cameras), run];
    index.add(op.method, op.path, chain, lane && fastChain(spec, op, lane, validator, deps.validateResponses === true, [...rateLimit(op, limiter, deps.cameras), run]));
    router[op.method](expressPath(op.path), ...chain);
  }
  // A known path with a method the document does not have.
  const methods = new Map<string, string[]>();
  for (const op of spec.operations) methods.set(op.path, [...(methods.get(op.path) ?? []), op.method.toUpperCase()]);
  for (const [path, allowed] of methods) {
    router.all(expressPath(path), (_req, res, next) => {
      res.setHeader('Allow', allowed.join(', '));
      next(new ProblemError('METHOD_NOT_ALLOWED'));
    });
  }
  return index;
}

/**
 * The whole chain gateway/fast-lane.ts runs for a generic operation whose input is only path and
 * query parameters: the parameter check in place of the validator's request middlewares (with
 * response validation on, its route metadata and response check stay). Undefined otherwise.
 */
function fastChain(spec: LoadedSpec, op: Operation, lane: LaneEnds, validator: RequestHandler[], validateResponses: boolean, rest: RequestHandler[]): RequestHandler[] | undefined {
  // The generic handler answers with Node's own response methods (the lane's rule); reads only.
  if (op.handler !== undefined || op.method !== 'get') return undefined;
  const check = paramCheck(spec, op);
  if (!check) return undefined;
  const params: RequestHandler = (req, _res, next) => {
    check({ query: req.query as Record<string, unknown>, params: req.params, headers: req.headers });
    next();
  };
  const named = (name: string): RequestHandler[] => {
    const found = validator.filter((fn) => fn.name === name);
    if (validateResponses && found.length !== 1) throw new Error(`express-openapi-validator has no single ${name} any more`);
    return validateResponses ? found : [];
  };
  return [...lane.before, authorize(op), ...named('metadataMiddleware'), params, ...named('responseMiddleware'), ...rest];
}

export function expressPath(path: string): string {
  return path.replace(/\{([A-Za-z0-9_]+)\}/g, ':$1');
}

function authenticate(deps: AppDeps): RequestHandler {
  return (req, res, next) => {
    const token = deps.warmupToken;
    if (token !== undefined && req.headers[WARMUP_HEADER] === token) {
      req.principal = { name: 'warmup', role: 'admin', via: 'bearer' };
      req.warmup = true;
      next();
      return;
    }
    const principal = deps.users.authenticate(req.headers.authorization);
    if (!principal) {
      res.setHeader('WWW-Authenticate', 'Basic realm="camgate", charset="UTF-8", Bearer realm="camgate"');
      next(new ProblemError('UNAUTHENTICATED', { detail: 'send a gateway user (Basic) or an API token (Bearer)' }));
      return;
    }
    req.principal = principal;
    next();
  };
}

/** The operation's access checks, before its request is validated: the camera's access list, then the role. */
function authorize(op: Operation): RequestHandler {
  const cameraScoped = op.path.startsWith('/cameras/{cameraId}');
  return (req, res, next) => {
    res.locals.operationId = op.operationId;
    // The one per-camera access-list check of the REST face. A camera outside the list is
    // answered exactly as one that does not exist, so its existence is not revealed.
    if (cameraScoped && req.principal && !mayAccessCamera(req.principal, String(req.params.cameraId))) {
      next(new ProblemError('NOT_FOUND', { detail: `no camera ${String(req.params.cameraId)}` }));
      return;
    }
    // For the per-camera metrics (metrics.ts counts only cameras of the registry).
    if (cameraScoped) res.locals.cameraId = req.params.cameraId;
    if (req.principal && !roleAllows(req.principal.role, op.role)) {
      next(new ProblemError('FORBIDDEN', { detail: `${op.operationId} needs the ${op.role} role` }));
      return;
    }
    next();
  };
}

/** The operation's `x-rate-limit` class, after validation (a refused request costs no token) and before the camera. */
function rateLimit(op: Operation, limiter: RateLimiter, cameras: CameraRegistry): RequestHandler[] {
  const cls = op.rateLimit;
  if (cls === undefined) return [];
  return [(req, _res, next) => {
    const cameraId = String(req.params.cameraId ?? '*');
    // Unknown cameras are the handler's 404; they must not grow the bucket table.
    if (req.warmup || !req.principal || (req.params.cameraId !== undefined && !cameras.get(cameraId))) { next(); return; }
    try {
      limiter.enforce(cls, rateLimitUser(req.principal), cameraId);
    } catch (err) {
      next(err);
      return;
    }
    next();
  }];
}

const STARTED = Symbol('started');

function accessLog(logger: Logger, metrics: Metrics, basePath: string): RequestHandler {
  // One listener for every response (no closure per request); the log line is built only when
  // it is written.
  function finished(this: Response): void {
    const res = this as Response & { [STARTED]: bigint };
    const req = res.req;
    const ms = Number(process.hrtime.bigint() - res[STARTED]) / 1e6;
    const url = req.originalUrl;
    if (logger.isLevelEnabled('info')) {
      // The whole path (a mounted router may have cut req.path short) and never the query string.
      const q = url.indexOf('?');
      logger.info({ method: req.method, path: q < 0 ? url : url.slice(0, q), status: res.statusCode, ms, user: req.principal?.name }, 'request');
    }
    if (url.startsWith(basePath) && !req.warmup) {
      metrics.observe(String(res.locals.operationId ?? 'unmatched'), req.method, res.statusCode, ms / 1000, res.locals.cameraId as string | undefined);
    }
  }
  return (_req, res, next) => {
    (res as Response & { [STARTED]: bigint })[STARTED] = process.hrtime.bigint();
    res.on('finish', finished);
    next();
  };
}

interface ValidatorError {
  status?: number;
  errors?: Array<{ path?: string; message?: string }>;
  type?: string;
  message?: string;
}

/** Every error becomes problem+json from the catalog; nothing else (no stack, no secret) leaves. */
function errorHandler(logger: Logger, metrics: Metrics) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    // The client left and its camera calls were aborted: nobody to answer, nothing went wrong.
    // (req.socket can be null here, e.g. after a streamed request body was handed on.)
    const socket = req.socket ?? res.socket;
    if (!socket || socket.destroyed) {
      logger.debug({ path: req.path }, 'client left before its answer');
      res.destroy();
      return;
    }
    const problem = toProblem(err);
    metrics.problem(problem.code, res.locals.cameraId as string | undefined);
    if (problem.status >= 500 && problem.code === 'INTERNAL') logger.error({ err, path: req.path }, 'internal error');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (problem.retryAfter !== undefined) res.setHeader('Retry-After', String(problem.retryAfter));
    res.status(problem.status).type('application/problem+json').send(JSON.stringify(problem.toJSON(req.path)));
  };
}

export function toProblem(err: unknown): ProblemError {
  if (isProblem(err)) return err;
  const e = err as ValidatorError;
  // body-parser errors
  if (e.type === 'entity.too.large') return new ProblemError('PAYLOAD_TOO_LARGE', { detail: `the JSON body limit is ${JSON_LIMIT}` });
  if (e.type === 'entity.parse.failed') {
    return new ProblemError('VALIDATION_FAILED', { detail: 'the body is not valid JSON', errors: [{ pointer: '', message: 'not valid JSON' }] });
  }
  if (e.type === 'encoding.unsupported' || e.type === 'charset.unsupported') return new ProblemError('UNSUPPORTED_MEDIA_TYPE');
  // express-openapi-validator errors
  switch (e.status) {
    case 400:
      return new ProblemError('VALIDATION_FAILED', { errors: (e.errors ?? []).slice(0, MAX_FIELD_ERRORS).map(fieldError) });
    case 404:
      return new ProblemError('NOT_FOUND');
    case 405:
      return new ProblemError('METHOD_NOT_ALLOWED');
    case 413:
      return new ProblemError('PAYLOAD_TOO_LARGE');
    case 415:
      return new ProblemError('UNSUPPORTED_MEDIA_TYPE', { detail: 'send application/json' });
    default:
      return new ProblemError('INTERNAL', { cause: err });
  }
}

function fieldError(e: { path?: string; message?: string }): FieldError {
  const path = e.path ?? '';
  let pointer = path;
  if (path.startsWith('/body')) pointer = path.slice('/body'.length);
  else if (path.startsWith('/params/')) pointer = '/path/' + path.slice('/params/'.length);
  else if (path.startsWith('.')) pointer = '/' + path.slice(1).replaceAll('.', '/');
  return { pointer, message: (e.message ?? 'invalid').slice(0, 500) };
}
