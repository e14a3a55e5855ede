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
  /** The chain gateway/fast-lane.ts may run before express, for requests it can take. */
  fast: RequestHandler[] | undefined;
}

export interface Found {
  chain: RequestHandler[];
  fast: RequestHandler[] | undefined;
  params: Record<string, string>;
}

export class RouteIndex {
  private readonly byMethod = new Map<string, Map<number, Entry[]>>();

  /** In the order the routes are mounted: the first that matches wins, as in express. */
  add(method: string, template: string, chain: RequestHandler[], fast?: RequestHandler[]): void {
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
    list.push({ segments, names, chain, fast });
  }

  /** The first operation whose template matches a plain path (no `%`, no trailing slash). */
  find(method: string, path: string): Found | undefined {
    const bySize = this.byMethod.get(method);
    if (!bySize || path.includes('%') || path.endsWith('/')) return undefined;
    const parts = path.split('/');
    const list = bySize.get(parts.length - 1);
    if (!list) return undefined;
    for (const entry of list) {
      const params = match(entry, parts);
      if (params) return { chain: entry.chain, fast: entry.fast, params };
    }
    return undefined;
  }

  readonly dispatch: RequestHandler = (req, res, next) => {
    const found = this.find(req.method, req.path);
    if (!found) return next();
    req.params = found.params;
    run(found.chain, req, res, next);
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
export function run(chain: RequestHandler[], req: Request, res: Response, done: NextFunction): void {
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
