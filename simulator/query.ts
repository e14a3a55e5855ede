// The camera decodes %XX (UTF-8) and nothing else: '+' stays a plus (no form decoding),
// brackets may arrive literal or as %5B/%5D.
export class QueryError extends Error {}

// decodeURIComponent is exactly that: %XX as UTF-8, '+' untouched; it throws on bad escapes or bytes.
export function percentDecode(text: string): string {
  if (!text.includes('%')) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    throw new QueryError('bad percent-encoding');
  }
}

export interface ParsedUrl {
  path: string;
  params: Array<[string, string]>;
  get(key: string): string | undefined;   // the first value of a key
}

// Throws QueryError when the URL cannot be decoded.
export function parseRequestUrl(rawUrl: string): ParsedUrl {
  const hash = rawUrl.indexOf('#');
  const target = hash < 0 ? rawUrl : rawUrl.slice(0, hash);
  const q = target.indexOf('?');
  const path = percentDecode(q < 0 ? target : target.slice(0, q));
  const params: Array<[string, string]> = [];
  if (q >= 0) {
    for (const part of target.slice(q + 1).split('&')) {
      if (part === '') continue;
      const eq = part.indexOf('=');
      const key = percentDecode(eq < 0 ? part : part.slice(0, eq));
      const value = eq < 0 ? '' : percentDecode(part.slice(eq + 1));
      params.push([key, value]);
    }
  }
  return {
    path,
    params,
    get(key: string) {
      for (const [k, v] of params) if (k === key) return v;
      return undefined;
    },
  };
}

export function safeParseRequestUrl(rawUrl: string): ParsedUrl | null {
  try {
    return parseRequestUrl(rawUrl);
  } catch (err) {
    if (err instanceof QueryError) return null;
    throw err;
  }
}
