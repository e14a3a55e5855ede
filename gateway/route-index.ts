// One look-up instead of express's scan of every operation's route (~185 routes and their 405
// fallbacks, a path-to-regexp match each, on every request): the operations by method and by
// segment count, literal segments compared first. Only plain requests take this way (no `%`, no
// trailing slash, no HEAD); anything else, and any path it does not know, goes on to the express
// routes, which stay mounted and decide exactly as before.
import type { NextFunction, Request, RequestHandler, Response } from 'express';

interface Entry {
  /** Lower-cased literal segments; undefined where the template has a parameter. */
  segments: Array<string | undefined>;
  names: string[];
  chain: RequestHandler[];
}

export class RouteIndex {
  private readonly byMethod = new Map<string, Map<number, Entry[]>>();

  /** In the order the routes are mounted: the first that matches wins, as in express. */
  add(method: string, template: string, chain: RequestHandler[]): void {
    const parts = template.split('/').slice(1);
    const names: string[] = [];
    const segments = parts.map((p) => {
      const m = /^\{([A-Za-z0-9_]+)\}$/.exec(p);
      if (m) {
        names.push(m[1]!);
        return undefined;
      }
      return p.toLowerCase();
    });
    const upper = method.toUpperCase();
    let bySize = this.byMethod.get(upper);
    if (!bySize) this.byMethod.set(upper, (bySize = new Map()));
    let list = bySize.get(segments.length);
    if (!list) bySize.set(segments.length, (list = []));
    list.push({ segments, names, chain });
  }

  readonly dispatch: RequestHandler = (req, res, next) => {
    const bySize = this.byMethod.get(req.method);
    const path = req.path;
    if (!bySize || path.includes('%') || path.endsWith('/')) return next();
    const parts = path.split('/');
    const list = bySize.get(parts.length - 1);
    if (!list) return next();
    for (const entry of list) {
      const params = match(entry, parts);
      if (params) {
        req.params = params;
        run(entry.chain, req, res, next);
        return;
      }
    }
    next();
  };
}

function match(entry: Entry, parts: string[]): Record<string, string> | undefined {
  const { segments } = entry;
  for (let i = 0; i < segments.length; i++) {
    const literal = segments[i];
    const part = parts[i + 1]!;
    if (literal === undefined ? part === '' : literal !== part && literal !== part.toLowerCase()) return undefined;
  }
  const params: Record<string, string> = {};
  let n = 0;
  for (let i = 0; i < segments.length; i++) if (segments[i] === undefined) params[entry.names[n++]!] = parts[i + 1]!;
  return params;
}

/** The route's handlers in order, with express's rules: a throw or a rejected promise is next(err). */
function run(chain: RequestHandler[], req: Request, res: Response, done: NextFunction): void {
  let i = 0;
  const step = (err?: unknown): void => {
    if (err !== undefined && err !== null && err !== 'route') return done(err);
    const fn = chain[i++];
    if (!fn || err === 'route') return done();
    try {
      const ret = fn(req, res, step) as unknown;
      if (ret instanceof Promise) ret.then(undefined, (e: unknown) => step(e ?? new Error('Rejected promise')));
    } catch (e) {
      step(e);
    }
  };
  step();
}
