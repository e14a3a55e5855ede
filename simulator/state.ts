// The camera's configuration as it stores it: flat `table.X.Y[0].Z` keys with string values.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface SeedEntry { key: string; displayKey: string; value: string }
export interface Seed {
  entries: SeedEntry[];
  tableSections: Map<string, string>;   // from each file's `# <section> ...` first line
  warnings: string[];
}

// Whitespace around key segments is a PDF artefact (`table.General. LocalNo`); the camera's key has none.
export function canonicalKey(key: string): string {
  return key.trim().replace(/\s*([.[\]])\s*/g, '$1');
}

// `Alarm[0].EventHandler.X` → `Alarm`
export function tableOf(name: string): string {
  const m = /^[^.[]*/.exec(canonicalKey(name));
  return m ? m[0] : '';
}

export function parseSeedText(text: string, file: string, seed: Seed): void {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let section: string | undefined;
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const m = /^#\s*(\d+(?:\.\d+)+)/.exec(line);
      if (section === undefined && m?.[1]) section = m[1];
      return;
    }
    const eq = line.indexOf('=');
    const displayKey = eq < 0 ? '' : line.slice(0, eq);
    if (eq < 0 || !/^table\./.test(displayKey.trimStart())) {
      seed.warnings.push(`${file}:${i + 1}: not a 'table.' line`);
      return;
    }
    const key = canonicalKey(displayKey);
    seed.entries.push({ key, displayKey, value: line.slice(eq + 1) });
    const table = tableOf(key.slice('table.'.length));
    if (section && !seed.tableSections.has(table)) seed.tableSections.set(table, section);
  });
}

export function loadSeed(configDir: string): Seed {
  const seed: Seed = { entries: [], tableSections: new Map(), warnings: [] };
  if (!existsSync(configDir)) {
    seed.warnings.push(`${configDir}: no seed directory`);
    return seed;
  }
  for (const file of readdirSync(configDir).filter((f) => f.endsWith('.txt')).sort()) {
    parseSeedText(readFileSync(join(configDir, file), 'utf8'), file, seed);
  }
  return seed;
}

function belongsTo(key: string, name: string): boolean {
  const full = `table.${name}`;
  return key === full || key.startsWith(`${full}.`) || key.startsWith(`${full}[`);
}

export class ConfigState {
  private readonly values = new Map<string, string>();
  private readonly displayKeys = new Map<string, string>();
  private readonly seedValues = new Map<string, string>();

  // keep(table) decides which tables this camera model has.
  constructor(entries: SeedEntry[], keep: (table: string) => boolean = () => true) {
    for (const e of entries) {
      if (!keep(tableOf(e.key.slice('table.'.length)))) continue;
      this.values.set(e.key, e.value);
      this.seedValues.set(e.key, e.value);
      if (!this.displayKeys.has(e.key)) this.displayKeys.set(e.key, e.displayKey);
    }
  }

  get(key: string): string | undefined {
    return this.values.get(canonicalKey(key));
  }

  has(key: string): boolean {
    return this.values.has(canonicalKey(key));
  }

  // Test hook: a key that does not exist is added (at the end of the table's order).
  set(key: string, value: string): void {
    const k = canonicalKey(key);
    if (!this.displayKeys.has(k)) this.displayKeys.set(k, k);
    this.values.set(k, value);
  }

  tableExists(name: string): boolean {
    const n = canonicalKey(name);
    for (const key of this.values.keys()) if (belongsTo(key, n)) return true;
    return false;
  }

  tables(): string[] {
    const out = new Set<string>();
    for (const key of this.values.keys()) out.add(tableOf(key.slice('table.'.length)));
    return [...out];
  }

  // `getConfig&name=X` lines, in the order the camera stores them.
  lines(name: string): string[] {
    const n = canonicalKey(name);
    const out: string[] = [];
    for (const [key, value] of this.values) {
      if (belongsTo(key, n)) out.push(`${this.displayKeys.get(key) ?? key}=${value}`);
    }
    return out;
  }

  restoreTables(predicate: (table: string) => boolean): void {
    const inTable = (key: string): boolean => predicate(tableOf(key.slice('table.'.length)));
    for (const key of [...this.values.keys()]) {
      if (inTable(key) && !this.seedValues.has(key)) this.values.delete(key);
    }
    for (const [key, value] of this.seedValues) if (inTable(key)) this.values.set(key, value);
  }

  entries(): IterableIterator<[string, string]> {
    return this.values.entries();
  }
}
