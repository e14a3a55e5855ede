// The camera's CGI surface, built from the vendor support matrix (cgi-surface.tsv) so that every
// request the document lists is routed the same way, with each model's Yes/N/A.
import { readFileSync } from 'node:fs';

export const MODELS = ['WV-V1330LK', 'WV-V2530LK', 'WV-V1330L1', 'WV-V2530L1'] as const;
export type CameraModel = (typeof MODELS)[number];

export interface SurfaceRow {
  section: string;
  title: string;
  support: Record<CameraModel, boolean>;
  method: string;
  path: string;
  fixed: Array<[string, string]>;   // parameters whose value the syntax fixes (action=getConfig, name=General)
  required: string[];               // parameters the syntax requires with a placeholder value
}

export interface Route {
  path: string;
  fixed: Array<[string, string]>;
  required: string[];               // required by every row sharing this signature
  sections: string[];
  titles: string[];
  support: Record<CameraModel, boolean>;  // true when any of its sections is Yes for the model
}

export interface Surface {
  rows: SurfaceRow[];
  routes: Map<string, Route[]>;               // by path, most specific first
  configSections: Map<string, string>;        // config table name → section (rows with name=<Table>)
  sectionSupport: Map<string, Record<CameraModel, boolean>>;
}

export function isCameraModel(value: unknown): value is CameraModel {
  return typeof value === 'string' && (MODELS as readonly string[]).includes(value);
}

// Optional groups of the syntax start with `[&` or `[?` and may nest (`[&condition.Dirs[0]=<dir>]`).
function stripOptionalGroups(text: string): string {
  let out = '';
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    const next = text[i + 1];
    if (depth === 0 && c === '[' && (next === '&' || next === '?')) { depth = 1; continue; }
    if (depth > 0) {
      if (c === '[') depth++;
      else if (c === ']') depth--;
      continue;
    }
    out += c;
  }
  return out;
}

export function parseSyntax(request: string): { path: string; fixed: Array<[string, string]>; required: string[] } {
  const withoutServer = request.replace(/^[a-z]+:\/\/[^/]*/i, '');
  const stripped = stripOptionalGroups(withoutServer);
  const q = stripped.indexOf('?');
  const path = q < 0 ? stripped : stripped.slice(0, q);
  const query = q < 0 ? '' : stripped.slice(q + 1);
  const fixed: Array<[string, string]> = [];
  const required: string[] = [];
  for (const part of query.split('&')) {
    if (part === '' || part.startsWith('<')) continue;   // `<paramName>=<paramValue>`: free-form
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? '' : part.slice(eq + 1);
    if (value.includes('<')) required.push(key);
    else fixed.push([key, value]);
  }
  // `names[0]=<xxx>&names[1]=<yyy>[&...]` is a list of at least one; `startPoint[0]&startPoint[1]` is a pair.
  const isList = withoutServer.includes('[&...]');
  const listRequired = required.filter((key) => {
    const m = /^(.*)\[([1-9]\d*)\]$/.exec(key);
    return !(isList && m && required.includes(`${m[1]}[0]`));
  });
  return { path, fixed, required: listRequired };
}

export function parseSurface(tsv: string): SurfaceRow[] {
  const lines = tsv.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = (lines.shift() ?? '').split('\t');
  const col = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`cgi-surface.tsv: missing column ${name}`);
    return i;
  };
  const iSection = col('section'), iTitle = col('title'), iMethod = col('method'), iRequest = col('request');
  const iModel = MODELS.map((m) => col(m));
  const rows: SurfaceRow[] = [];
  for (const line of lines) {
    const cells = line.split('\t');
    const method = cells[iMethod] ?? '';
    if (method === 'RTSP') continue;   // not HTTP: the simulator does not serve RTSP
    const support = {} as Record<CameraModel, boolean>;
    MODELS.forEach((m, k) => { support[m] = cells[iModel[k] ?? -1] === 'Yes'; });
    const { path, fixed, required } = parseSyntax(cells[iRequest] ?? '');
    rows.push({ section: cells[iSection] ?? '', title: cells[iTitle] ?? '', support, method, path, fixed, required });
  }
  return rows;
}

function signature(path: string, fixed: Array<[string, string]>): string {
  return path + '?' + fixed.map(([k, v]) => `${k}=${v}`).sort().join('&');
}

export function buildSurface(rows: SurfaceRow[]): Surface {
  const bySignature = new Map<string, Route>();
  const sectionSupport = new Map<string, Record<CameraModel, boolean>>();
  const configSections = new Map<string, string>();
  for (const row of rows) {
    sectionSupport.set(row.section, row.support);
    const key = signature(row.path, row.fixed);
    const route = bySignature.get(key);
    if (!route) {
      bySignature.set(key, {
        path: row.path, fixed: row.fixed, required: [...row.required],
        sections: [row.section], titles: [row.title], support: { ...row.support },
      });
    } else {
      route.required = route.required.filter((r) => row.required.includes(r));
      if (!route.sections.includes(row.section)) { route.sections.push(row.section); route.titles.push(row.title); }
      for (const m of MODELS) route.support[m] = route.support[m] || row.support[m];
    }
    const fixedMap = new Map(row.fixed);
    if (row.path === '/cgi-bin/configManager.cgi' && fixedMap.get('action') === 'getConfig' && fixedMap.has('name')) {
      configSections.set(fixedMap.get('name') ?? '', row.section);
    }
  }
  const routes = new Map<string, Route[]>();
  for (const route of bySignature.values()) {
    const list = routes.get(route.path) ?? [];
    list.push(route);
    routes.set(route.path, list);
  }
  for (const list of routes.values()) list.sort((a, b) => b.fixed.length - a.fixed.length);
  return { rows, routes, configSections, sectionSupport };
}

export function loadSurface(file: string): Surface {
  return buildSurface(parseSurface(readFileSync(file, 'utf8')));
}

export type RouteMatch =
  | { kind: 'route'; route: Route }
  | { kind: 'unknownPath' }
  | { kind: 'noRoute'; missingAction: boolean };

// The most specific route whose fixed parameters the request carries wins
// (`getConfig&name=General` before `getConfig&name=<handlerName>`).
export function matchRoute(surface: Surface, path: string, get: (key: string) => string | undefined): RouteMatch {
  const list = surface.routes.get(path);
  if (!list) return { kind: 'unknownPath' };
  for (const route of list) {
    if (route.fixed.every(([k, v]) => get(k) === v)) return { kind: 'route', route };
  }
  const needsAction = list.every((r) => r.fixed.some(([k]) => k === 'action'));
  return { kind: 'noRoute', missingAction: needsAction && get('action') === undefined };
}
