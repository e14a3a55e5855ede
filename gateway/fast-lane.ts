// The hot requests (config GETs and other operations whose input is only path and query
// parameters) answered before express: the route index finds the operation, and the same
// access log, authentication, role check, parameter check, rate limit and handler run in the same
// order, without express's router walk (every app-level layer, the API router, body parsing) and
// express-openapi-validator's per-request middlewares. A request the lane cannot take exactly as
// express would (another prefix, a body, `%` or a trailing slash in the path, a query string the
// validator rewrites, the validator warm-up) goes to express untouched, before anything ran.
//
// Express's request and response prototypes are put on a request only where express code will
// read them: up front when responses are validated (the validator hooks res.json), otherwise when
// the chain ends in an error or falls through. Changing the prototype of Node's own request and
// response objects costs about a third of a small GET's CPU (bench/NOTES.md), so handlers in the
// lane answer with Node's own response methods (statusCode, setHeader, end: sendJson).
import { parse as parseQuery } from 'node:querystring';
import type { ErrorRequestHandler, Express, NextFunction, Request, RequestHandler, Response } from 'express';
import { run, type RouteIndex } from './route-index.ts';

export interface FastLaneOptions {
  index: RouteIndex;
  /** The API's prefix: /api/v1 */
  basePath: string;
  /** Requests with this header go to express (the warm-up compiles express's validators). */
  declineHeader: string;
  /** Where a chain that no handler answered ends, as in express: the app's 404. */
  fallThrough: RequestHandler;
  /** The app's error handler: every error of a lane chain ends there, as in express. (The chains
   *  in the index are whole: access log, authentication, the operation's route.) */
  onError: ErrorRequestHandler;
  /** Express's prototypes from the start (response validation uses res.json). */
  expressObjects: boolean;
}

type Handle = (this: Express, req: Request, res: Response, callback?: NextFunction) => void;

// Characters the validator refuses unencoded in a query value, or that make express's parser and
// the validator's raw reading of the query disagree: those requests take express's way.
const UNPLAIN_QUERY = /[:/?#[\]@!$'()*+,;]|=[^&]*=/;

/** Puts the lane in front of the app: express's own `handle` gets every request the lane declines. */
export function installFastLane(app: Express, options: FastLaneOptions): void {
  const { index, basePath, declineHeader, fallThrough, onError, expressObjects } = options;
  const prefix = basePath + '/';
  const appHandle = (app as unknown as { handle: Handle }).handle;
  const appRequest = (app as unknown as { request: object }).request;
  const appResponse = (app as unknown as { response: object }).response;

  const take = (req: Request, res: Response): boolean => {
    const url = req.url;
    if (!url.startsWith(prefix) || url.includes('#')) return false;
    const headers = req.headers;
    if (headers['content-length'] !== undefined || headers['transfer-encoding'] !== undefined || headers[declineHeader] !== undefined) return false;
    const q = url.indexOf('?');
    const found = index.find(req.method, q < 0 ? url.slice(basePath.length) : url.slice(basePath.length, q));
    if (found?.fast === undefined) return false;
    const raw = q < 0 ? '' : url.slice(q + 1);
    if (raw !== '' && UNPLAIN_QUERY.test(raw)) return false;
    const query = parseQuery(raw);
    for (const key in query) if (key.includes('[')) return false;

    // What express's app.handle and router set up before the first middleware.
    const r = req as Request & { res: Response };
    r.res = res;
    (res as Response & { req: Request }).req = req;
    if (expressObjects) toExpress(req, res);
    if (!res.locals) res.locals = Object.create(null) as Response['locals'];
    req.originalUrl = url;
    req.baseUrl = '';
    req.params = found.params;
    // Express parses the query on every read; the validator leaves a coerced own copy. So does this.
    Object.defineProperty(req, 'query', { value: query, writable: true, configurable: true, enumerable: true });
    run(found.fast, req, res, (err?: unknown) => {
      toExpress(req, res);
      if (err === undefined) fallThrough(req, res, (e?: unknown) => onError(e, req, res, noop));
      else onError(err, req, res, noop);
    });
    return true;
  };

  const toExpress = (req: Request, res: Response): void => {
    if (Object.getPrototypeOf(req) !== appRequest) Object.setPrototypeOf(req, appRequest);
    if (Object.getPrototypeOf(res) !== appResponse) Object.setPrototypeOf(res, appResponse);
  };

  (app as unknown as { handle: Handle }).handle = function handle(this: Express, req, res, callback) {
    if (!take(req, res)) appHandle.call(this, req, res, callback);
  };
}

function noop(): void {}
