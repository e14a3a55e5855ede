import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { buildQuery, encodeValue, pointerOfKey } from '../adapters/cgi/query.ts';
import { ProblemError } from '../gateway/problems.ts';

function isRefused(c: number): boolean {
  return c === 0x26 || c <= 0x1f || (c >= 0x7f && c <= 0x9f);
}

describe('encodeValue', () => {
  const cases: Array<[string, string]> = [
    ['a b#c+d%e', 'a%20b%23c%2Bd%25e'],
    ['AZaz09-._~', 'AZaz09-._~'],
    ['', ''],
    [' ', '%20'],
    ['1 00:00:00-24:00:00', '1%2000%3A00%3A00-24%3A00%3A00'],
    ['a=b', 'a%3Db'],
    ['x;y,z/w?v@u$t', 'x%3By%2Cz%2Fw%3Fv%40u%24t'],
    ["!'()*", '%21%27%28%29%2A'],
    ['[0]', '%5B0%5D'],
    ['"<>\\^`{|}', '%22%3C%3E%5C%5E%60%7B%7C%7D'],
    ['é', '%C3%A9'],
    ['東', '%E6%9D%B1'],
    ['😀', '%F0%9F%98%80'],
    ['\u00A0', '%C2%A0'],
  ];
  for (const [value, encoded] of cases) {
    it(`${JSON.stringify(value)} → ${encoded}`, () => assert.equal(encodeValue(value), encoded));
  }

  it('never writes + for a space', () => assert.ok(!encodeValue('a b c').includes('+')));

  for (const [name, value] of [
    ['&', 'a&b'],
    ['CR', 'a\rb'],
    ['LF', 'a\nb'],
    ['NUL', 'a\u0000b'],
    ['TAB', '\t'],
    ['DEL', '\u007f'],
    ['U+0085', 'a\u0085'],
    ['U+009F', '\u009f'],
    ['a lone surrogate', 'a\uD800b'],
  ] as const) {
    it(`refuses ${name}`, () => assert.throws(() => encodeValue(value), (e: unknown) => e instanceof ProblemError && e.code === 'VALIDATION_FAILED'));
  }

  it('round-trips through decodeURIComponent and writes only unreserved characters and %XX', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => ![...s].some((ch) => isRefused(ch.codePointAt(0) as number))),
        (s) => {
          const encoded = encodeValue(s);
          assert.match(encoded, /^(?:[A-Za-z0-9\-._~]|%[0-9A-F]{2})*$/);
          assert.equal(decodeURIComponent(encoded), s);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('buildQuery', () => {
  it('writes keys verbatim with literal brackets and encodes values', () => {
    assert.equal(buildQuery([['action', 'getConfig'], ['name', 'General']]), 'action=getConfig&name=General');
    assert.equal(
      buildQuery([['action', 'setConfig'], ['VideoColor[1][0].Brightness', '50'], ['General.MachineName', 'a b#c+d%e']]),
      'action=setConfig&VideoColor[1][0].Brightness=50&General.MachineName=a%20b%23c%2Bd%25e',
    );
    assert.equal(buildQuery([['Snap[0].TimeSection[0][0]', '1 00:00:00-23:59:59']]), 'Snap[0].TimeSection[0][0]=1%2000%3A00%3A00-23%3A59%3A59');
    assert.equal(buildQuery([]), '');
    assert.equal(buildQuery([['x', '']]), 'x=');
  });

  const refusedValues: Array<[string, string, string, RegExp]> = [
    ['&', 'General.MachineName', 'a&b', /'&'/],
    ['CR', 'General.MachineName', 'a\rb', /U\+000D/],
    ['LF', 'X[0].Y', 'a\nb', /U\+000A/],
    ['NUL', 'VideoColor[1][0].Brightness', '\u0000', /U\+0000/],
    ['U+0085', 'name', 'x\u0085', /U\+0085/],
    ['DEL', 'name', '\u007f', /U\+007F/],
  ];
  const pointers: Record<string, string> = {
    'General.MachineName': '/General/MachineName',
    'X[0].Y': '/X/0/Y',
    'VideoColor[1][0].Brightness': '/VideoColor/1/0/Brightness',
    name: '/name',
  };
  for (const [name, key, value, message] of refusedValues) {
    it(`refuses ${name} in a value with the pointer ${pointers[key]}`, () => {
      assert.throws(
        () => buildQuery([['action', 'setConfig'], [key, value]]),
        (err: unknown) => {
          assert.ok(err instanceof ProblemError);
          assert.equal(err.code, 'VALIDATION_FAILED');
          assert.equal(err.status, 400);
          assert.equal(err.errors?.length, 1);
          assert.equal(err.errors?.[0]?.pointer, pointers[key]);
          assert.match(err.errors?.[0]?.message ?? '', message);
          return true;
        },
      );
    });
  }

  const refusedKeys = ['a b', 'a%5B0%5D', 'a&b', 'a=b', '', 'clé', 'a/b', 'a\n'];
  for (const key of refusedKeys) {
    it(`refuses the key ${JSON.stringify(key)}`, () => {
      assert.throws(
        () => buildQuery([[key, 'x']]),
        (err: unknown) => err instanceof ProblemError && err.code === 'VALIDATION_FAILED' && err.errors?.[0]?.pointer === pointerOfKey(key),
      );
    });
  }

  it('lists every refused parameter at once', () => {
    assert.throws(
      () => buildQuery([['a', 'x&y'], ['b', 'ok'], ['c[1]', 'x\ny']]),
      (err: unknown) => err instanceof ProblemError && JSON.stringify(err.errors?.map((e) => e.pointer)) === '["/a","/c/1"]',
    );
  });

  it('pointerOfKey', () => {
    assert.equal(pointerOfKey('General.MachineName'), '/General/MachineName');
    assert.equal(pointerOfKey('X[0].Y'), '/X/0/Y');
    assert.equal(pointerOfKey('X[0][1]'), '/X/0/1');
    assert.equal(pointerOfKey('a/b~c'), '/a~1b~0c');
  });

  it('injection: any value with & or a control character is refused (1000 runs)', () => {
    const bad = fc.oneof(
      fc.constant('&'),
      fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)),
      fc.integer({ min: 0x7f, max: 0x9f }).map((c) => String.fromCharCode(c)),
    );
    const any = fc.string({ unit: 'binary', maxLength: 20 });
    fc.assert(
      fc.property(any, bad, any, (before, ch, after) => {
        const value = before + ch + after;
        assert.throws(() => encodeValue(value), ProblemError);
        assert.throws(
          () => buildQuery([['action', 'setConfig'], ['General.MachineName', value]]),
          (err: unknown) => err instanceof ProblemError && err.code === 'VALIDATION_FAILED' && err.errors?.[0]?.pointer === '/General/MachineName',
        );
      }),
      { numRuns: 1000 },
    );
  });

  it('a built query splits back into exactly its parameters', () => {
    const key = fc.stringMatching(/^[A-Za-z0-9_.[\]]{1,20}$/);
    const value = fc.string({ unit: 'binary', maxLength: 20 }).filter((s) => ![...s].some((ch) => isRefused(ch.codePointAt(0) as number)));
    fc.assert(
      fc.property(fc.array(fc.tuple(key, value), { maxLength: 6 }), (params) => {
        const query = buildQuery(params);
        const parts = query === '' ? [] : query.split('&');
        assert.equal(parts.length, params.length);
        parts.forEach((part, i) => {
          const eq = part.indexOf('=');
          assert.equal(part.slice(0, eq), params[i]?.[0]);
          assert.equal(decodeURIComponent(part.slice(eq + 1)), params[i]?.[1]);
        });
      }),
    );
  });
});
