// The example answers of the vendor document for CGIs without behaviour of their own
// (simulator/data/answers.yaml: a list of { section, request, body }).
import { existsSync, readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { safeParseRequestUrl, type ParsedUrl } from './query.ts';
import { crlf } from './replies.ts';

export interface StaticAnswer {
  section: string;
  path: string;
  params: Array<[string, string]>;   // a `<placeholder>` value matches any value
  body: string;
}

export interface Answers { list: StaticAnswer[]; warnings: string[] }

export function parseAnswers(yamlText: string): Answers {
  const doc: unknown = parse(yamlText);
  const items: unknown = Array.isArray(doc) ? doc : (doc as { answers?: unknown } | null)?.answers;
  const out: Answers = { list: [], warnings: [] };
  if (!Array.isArray(items)) {
    out.warnings.push('answers.yaml: expected a list of { section, request, body }');
    return out;
  }
  items.forEach((item: unknown, i) => {
    const e = item as { section?: unknown; request?: unknown; body?: unknown } | null;
    if (!e || typeof e.request !== 'string' || (typeof e.body !== 'string' && typeof e.body !== 'number')) {
      out.warnings.push(`answers.yaml: entry ${i}: needs request and body strings`);
      return;
    }
    const request = e.request.trim().replace(/^[a-z]+:\/\/[^/]*/i, '');
    const parsed = safeParseRequestUrl(request);
    if (!parsed) {
      out.warnings.push(`answers.yaml: entry ${i}: request cannot be decoded`);
      return;
    }
    out.list.push({ section: String(e.section ?? ''), path: parsed.path, params: parsed.params, body: crlf(String(e.body)) });
  });
  return out;
}

export function loadAnswers(file: string): Answers {
  if (!existsSync(file)) return { list: [], warnings: [`${file}: missing`] };
  return parseAnswers(readFileSync(file, 'utf8'));
}

// The entry whose parameters the request all carries; the most specific wins.
export function findAnswer(answers: Answers, url: ParsedUrl): StaticAnswer | undefined {
  let best: StaticAnswer | undefined;
  for (const a of answers.list) {
    if (a.path !== url.path) continue;
    const fits = a.params.every(([k, v]) => {
      const got = url.get(k);
      return got !== undefined && (/^<[^>]*>$/.test(v) || got === v);
    });
    if (fits && (!best || a.params.length > best.params.length)) best = a;
  }
  return best;
}
