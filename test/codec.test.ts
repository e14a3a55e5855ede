import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  parseKeyValue,
  serializeKeyValue,
  toParams,
  typeBySchema,
  type CgiDoc,
  type CgiNode,
  type JsonSchema,
} from '../adapters/cgi/codec.ts';
import { ProblemError } from '../gateway/problems.ts';

const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);

describe('parseKeyValue: camera answers', () => {
  const cases: Array<{ name: string; text: string; doc: CgiDoc }> = [
    { name: 'CRLF lines', text: 'table.General.MachineName=Cam1\r\ntable.General.LocalNo=8\r\n', doc: { General: { MachineName: 'Cam1', LocalNo: '8' } } },
    { name: 'LF lines', text: 'table.General.MachineName=Cam1\ntable.General.LocalNo=8\n', doc: { General: { MachineName: 'Cam1', LocalNo: '8' } } },
    { name: 'mixed endings, no final newline', text: 'a=1\r\nb=2\nc=3', doc: { a: '1', b: '2', c: '3' } },
    { name: 'CR before EOF stripped', text: 'a=1\r', doc: { a: '1' } },
    { name: 'blank lines skipped', text: '\r\n\na=1\r\n\r\n  \r\nb=2\r\n', doc: { a: '1', b: '2' } },
    { name: 'first = only', text: 'table.Event.Data=a=b=c\r\n', doc: { Event: { Data: 'a=b=c' } } },
    { name: 'value starting with =', text: 'X==\r\n', doc: { X: '=' } },
    { name: 'empty value', text: 'X=\r\n', doc: { X: '' } },
    { name: 'leading zeros kept', text: 'table.Sn.Code=007\r\n', doc: { Sn: { Code: '007' } } },
    { name: 'leading space kept (serialNumber= PA1FQ15900207)', text: 'serialNumber= PA1FQ15900207\r\n', doc: { serialNumber: ' PA1FQ15900207' } },
    { name: 'trailing spaces kept', text: 'X=a b  \r\n', doc: { X: 'a b  ' } },
    { name: 'semicolons and spaces', text: 'X=Code=VideoMotion;action=Start; index=0\r\n', doc: { X: 'Code=VideoMotion;action=Start; index=0' } },
    { name: 'unicode value', text: 'table.ChannelTitle[0].Name=Entrée 東 😀\r\n', doc: { ChannelTitle: [{ Name: 'Entrée 東 😀' }] } },
    { name: 'key with spaces (table.General. LocalNo)', text: 'table.General. LocalNo=8\r\n', doc: { General: { LocalNo: '8' } } },
    { name: 'spaces around brackets (MotionDetect [0].Region [1])', text: 'MotionDetect [0].Region [1]=7\r\n', doc: { MotionDetect: [{ Region: [null, '7'] }] } },
    { name: 'leading key whitespace', text: ' caps.VideoEncodeDevices[0].TitleCount=4\r\n', doc: { VideoEncodeDevices: [{ TitleCount: '4' }] } },
    { name: 'head table.', text: 'table.Language=English\r\n', doc: { Language: 'English' } },
    { name: 'head status.', text: 'status.Focus.Status=Normal\r\n', doc: { Focus: { Status: 'Normal' } } },
    { name: 'head caps.', text: 'caps.PreviewMode=SplitSnap\r\n', doc: { PreviewMode: 'SplitSnap' } },
    { name: 'no head', text: 'sn=ABC\r\n', doc: { sn: 'ABC' } },
    { name: 'head stripped from the first segment only', text: 'table.table.X=1\r\n', doc: { table: { X: '1' } } },
    { name: 'a lone head word is a key', text: 'table=1\r\n', doc: { table: '1' } },
    { name: 'head followed by index is not a head', text: 'caps[0]=1\r\n', doc: { caps: ['1'] } },
    { name: 'head. placeholder of the vendor document is a key', text: 'head. Brightness=50 \r\n', doc: { head: { Brightness: '50 ' } } },
    {
      name: 'arrays',
      text: 'caps.PlaybackCompressSplitNumList[0]=1\r\ncaps.PlaybackCompressSplitNumList[1]=2\r\ncaps.PlaybackCompressSplitNumList[2]=4\r\n',
      doc: { PlaybackCompressSplitNumList: ['1', '2', '4'] },
    },
    { name: '2-D index', text: 'table.VideoColor[0][1].Brightness=50\r\n', doc: { VideoColor: [[null, { Brightness: '50' }]] } },
    {
      name: '2-D time sections',
      text: 'table.Snap[0].TimeSection[0][0]=6 00:00:00-23:59:59\r\ntable.Snap[0].TimeSection[1][1]=0 00:00:00-23:59:59\r\n',
      doc: { Snap: [{ TimeSection: [['6 00:00:00-23:59:59'], [null, '0 00:00:00-23:59:59']] }] },
    },
    { name: '3-D index', text: 'A[1][0][2]=x\n', doc: { A: [null, [[null, null, 'x']]] } },
    { name: 'sparse', text: 'X[0]=a\nX[3]=b\n', doc: { X: ['a', null, null, 'b'] } },
    { name: 'sparse, out of order', text: 'X[2]=c\nX[0]=a\n', doc: { X: ['a', null, 'c'] } },
    { name: 'index with leading zeros', text: 'X[01]=a\n', doc: { X: [null, 'a'] } },
    { name: 'index 65535 accepted', text: 'X[65535]=a\n', doc: { X: [...Array<null>(65535).fill(null), 'a'] } },
    { name: 'array of objects under an object', text: 'table.MotionDetect[0].EventHandler.PtzLink[0][0]=None\r\n', doc: { MotionDetect: [{ EventHandler: { PtzLink: [['None']] } }] } },
    { name: 'Object.prototype names are ordinary keys', text: 'toString=1\nvalueOf.x=2\nhasOwnProperty[0]=3\n', doc: { toString: '1', valueOf: { x: '2' }, hasOwnProperty: ['3'] } },
    { name: 'camera keys with colon and dash', text: 'table.RemoteDevice.uuid:System-0.Address=10.0.0.2\r\n', doc: { RemoteDevice: { 'uuid:System-0': { Address: '10.0.0.2' } } } },
    { name: 'BOM at the start', text: '\uFEFFa=1\n', doc: { a: '1' } },
    { name: '# comment lines of the seed files', text: '# 4.5.2 VideoColor\r\na=1\r\n  # head=VideoColor[ChannelNo]\r\n', doc: { a: '1' } },
    { name: 'same prefix, interleaved objects', text: 'A.B.x=1\nA.C.y=2\nA.B.z=3\nA.B.w[0]=4\nA.B.v=5\n', doc: { A: { B: { x: '1', z: '3', w: ['4'], v: '5' }, C: { y: '2' } } } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const { doc, warnings } = parseKeyValue(c.text);
      assert.deepEqual(doc, c.doc);
      assert.deepEqual(warnings, []);
    });
  }

  it('gives plain objects and arrays, never with a polluted prototype', () => {
    const { doc } = parseKeyValue('a.b=1\nc[0].d=2\n__proto__.polluted=1\na.__proto__.polluted=1\n');
    assert.equal(Object.getPrototypeOf(doc), Object.prototype);
    assert.equal(Object.getPrototypeOf(doc.a), Object.prototype);
    assert.ok(Array.isArray(doc.c));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.hasOwn(doc, '__proto__'), false);
  });
});

describe('parseKeyValue: lines it skips with a warning', () => {
  const cases: Array<{ name: string; text: string; doc: CgiDoc; warnings: RegExp[] }> = [
    { name: '__proto__ segment', text: 'a=1\n__proto__.x=1\n', doc: { a: '1' }, warnings: [/^line 2: .*__proto__/] },
    { name: '__proto__ after the head', text: 'table.__proto__.x=1\n', doc: {}, warnings: [/^line 1: .*__proto__/] },
    { name: 'constructor segment', text: 'a.constructor.prototype.x=1\n', doc: {}, warnings: [/^line 1: .*constructor/] },
    { name: 'prototype segment', text: 'X[0].prototype=1\n', doc: {}, warnings: [/^line 1: .*prototype/] },
    { name: '__proto__ as the last segment after a cached prefix', text: 'A.b=1\nA.__proto__=2\n', doc: { A: { b: '1' } }, warnings: [/^line 2: .*__proto__/] },
    { name: 'line without =', text: 'Done\r\na=1\r\n', doc: { a: '1' }, warnings: [/^line 1: no '=' in 'Done'$/] },
    { name: 'a bare OK success marker is not a warning', text: 'OK\r\noperateId=1\r\n', doc: { operateId: '1' }, warnings: [] },
    { name: 'empty key', text: '=1\n', doc: {}, warnings: [/^line 1: malformed key '' \(empty key segment\)/] },
    { name: 'empty segment', text: 'a..b=1\n', doc: {}, warnings: [/^line 1: malformed key 'a\.\.b'/] },
    { name: 'trailing dot', text: 'a.=1\n', doc: {}, warnings: [/^line 1: /] },
    { name: 'leading dot', text: '.a=1\n', doc: {}, warnings: [/^line 1: /] },
    { name: 'unclosed index', text: 'a[1=1\n', doc: {}, warnings: [/^line 1: .*index without '\]'/] },
    { name: 'non-numeric index', text: 'Snap[channel].X=1\n', doc: {}, warnings: [/^line 1: .*index is not a number/] },
    { name: 'negative index', text: 'a[-1]=1\n', doc: {}, warnings: [/^line 1: /] },
    { name: 'index above 65535', text: 'a[65536]=1\nb[99999999999999999999]=1\n', doc: {}, warnings: [/^line 1: .*above 65535/, /^line 2: .*above 65535/] },
    { name: 'space inside a name', text: 'Local No=1\n', doc: {}, warnings: [/^line 1: /] },
    { name: 'non-ASCII key', text: 'clé=1\n', doc: {}, warnings: [/^line 1: /] },
    { name: "'#' inside a key", text: 'a#b=1\na.#=2\n', doc: {}, warnings: [/^line 1: /, /^line 2: /] },
    { name: 'index without a name', text: '[0]=1\n', doc: {}, warnings: [/^line 1: /] },
    { name: 'scalar then object', text: 'A=1\nA.B=2\n', doc: { A: '1' }, warnings: [/^line 2: shape conflict: 'A' is already a value/] },
    { name: 'object then scalar', text: 'A.B=2\nA=1\n', doc: { A: { B: '2' } }, warnings: [/^line 2: shape conflict: 'A' is already an object/] },
    { name: 'object then array', text: 'A.B=2\nA[0]=1\n', doc: { A: { B: '2' } }, warnings: [/^line 2: shape conflict/] },
    { name: 'array then object', text: 'A[0]=1\nA.B=2\n', doc: { A: ['1'] }, warnings: [/^line 2: shape conflict: 'A' is already a list/] },
    { name: 'scalar element then array', text: 'A[0]=1\nA[0][0]=2\n', doc: { A: ['1'] }, warnings: [/^line 2: shape conflict: 'A\[0\]' is already a value/] },
    { name: 'object under a cached prefix then scalar', text: 'A.b.c=1\nA.d=2\nA.b=3\n', doc: { A: { b: { c: '1' }, d: '2' } }, warnings: [/^line 3: shape conflict/] },
    { name: 'duplicate key: later value kept', text: 'A.b=1\nA.b=2\n', doc: { A: { b: '2' } }, warnings: [/^line 2: duplicate key 'A\.b'/] },
    { name: 'line numbers count blank lines', text: '\n\nbad\n', doc: {}, warnings: [/^line 3: /] },
    {
      name: 'the bad line is skipped, its neighbours kept',
      text: 'table.General.MachineName=Cam1\r\ntable.General.]=x\r\ntable.General.LocalNo=8\r\n',
      doc: { General: { MachineName: 'Cam1', LocalNo: '8' } },
      warnings: [/^line 2: /],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const { doc, warnings } = parseKeyValue(c.text);
      assert.deepEqual(doc, c.doc);
      assert.equal(warnings.length, c.warnings.length, warnings.join('\n'));
      c.warnings.forEach((re, i) => assert.match(warnings[i] as string, re));
    });
  }

  it('caps sparse holes so a hostile answer cannot exhaust memory', () => {
    const lines = Array.from({ length: 40 }, (_, i) => `A${i}[65535]=x`).join('\n');
    const { doc, warnings } = parseKeyValue(lines);
    assert.ok(Object.keys(doc).length < 40);
    assert.match(warnings.at(-1) as string, /too many sparse indexes/);
  });

  it('caps the number of warnings', () => {
    const { warnings } = parseKeyValue('junk\n'.repeat(1000));
    assert.equal(warnings.length, 201);
    assert.equal(warnings.at(-1), '800 more warnings not shown');
  });

  it('never throws on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => {
        const { doc, warnings } = parseKeyValue(text);
        assert.equal(typeof doc, 'object');
        assert.ok(warnings.every((w) => typeof w === 'string'));
      }),
    );
  });
});

describe('serializeKeyValue', () => {
  it('writes head.a.b[0]=v CRLF lines, skipping holes', () => {
    const doc: CgiDoc = { VideoColor: [[null, { Brightness: '50', Contrast: '' }]], Language: 'English' };
    assert.equal(serializeKeyValue(doc, 'table'), 'table.VideoColor[0][1].Brightness=50\r\ntable.VideoColor[0][1].Contrast=\r\ntable.Language=English\r\n');
    assert.equal(serializeKeyValue(doc, 'table.'), serializeKeyValue(doc, 'table'));
    assert.equal(serializeKeyValue({ sn: ' A=B ' }), 'sn= A=B \r\n');
    assert.equal(serializeKeyValue({}), '');
  });

  const refused: Array<[string, CgiDoc, string?]> = [
    ['a line break in a value', { a: 'x\ny' }],
    ['a CR in a value', { a: 'x\r' }],
    ['a dot in a key', { 'a.b': 'x' }],
    ['an = in a key', { 'a=b': 'x' }],
    ['an empty key', { '': 'x' }],
    ['a forbidden key', JSON.parse('{"a":{"__proto__":"x"}}') as CgiDoc],
    ['a bad head', { a: 'x' }, 'ta ble'],
  ];
  for (const [name, doc, head] of refused) {
    it(`refuses ${name}`, () => assert.throws(() => serializeKeyValue(doc, head), RangeError));
  }
});

// --- properties ---------------------------------------------------------------------------------

const keyArb = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,12}$/).filter((k) => !FORBIDDEN.has(k));
const charArb = fc.oneof(
  fc.constantFrom(' ', '=', ';', '.', '[', ']', '&', '%', '#', '\t', '\r', 'é', '東', '😀', '\u0085', '\uFEFF'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
);
const valueArb = fc.string({ unit: charArb, maxLength: 16 }).filter((v) => !v.includes('\n') && !v.includes('\r'));

function docArb(value: fc.Arbitrary<CgiNode>): fc.Arbitrary<CgiDoc> {
  const { node } = fc.letrec<{ node: CgiNode; obj: CgiNode; arr: CgiNode }>((tie) => ({
    node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, value, tie('obj'), tie('arr')),
    obj: fc.dictionary(keyArb, tie('node'), { minKeys: 1, maxKeys: 4, noNullPrototype: true }),
    // Non-empty, and the last element is not a hole: a trailing hole has no line to say it.
    arr: fc
      .tuple(fc.array(fc.option(tie('node'), { nil: null }), { maxLength: 3 }), tie('node'))
      .map(([items, last]) => [...items, last]),
  }));
  return fc.dictionary(keyArb, node, { maxKeys: 5, noNullPrototype: true });
}

describe('codec properties', () => {
  it('parse(serialize(doc)) deep-equals doc', () => {
    fc.assert(
      fc.property(docArb(valueArb), (doc) => {
        const text = serializeKeyValue(doc, 'table');
        const parsed = parseKeyValue(text);
        assert.deepEqual(parsed.warnings, []);
        assert.deepEqual(parsed.doc, doc);
        // LF-only answers parse the same.
        assert.deepEqual(parseKeyValue(text.replaceAll('\r\n', '\n')).doc, doc);
      }),
      { numRuns: 300 },
    );
  });

  it('parse(serialize(doc)) without a head, when no top-level key is a head word', () => {
    fc.assert(
      fc.property(docArb(valueArb), (doc) => {
        fc.pre(!['table', 'status', 'caps'].some((h) => Object.hasOwn(doc, h)));
        assert.deepEqual(parseKeyValue(serializeKeyValue(doc)).doc, doc);
      }),
    );
  });

  it('serialize(parse(text)) is stable', () => {
    const segment = fc.oneof(keyArb, fc.constantFrom('table', 'status', 'caps', ' a ', '__proto__', 'x y', ''));
    const index = fc.oneof(fc.integer({ min: 0, max: 5 }).map((i) => `[${i}]`), fc.constantFrom('', '', '', '[x]', '[', ' [1] '));
    const keyText = fc.array(fc.tuple(segment, index).map(([s, i]) => s + i), { minLength: 1, maxLength: 4 }).map((p) => p.join('.'));
    const line = fc.oneof(
      fc.tuple(keyText, valueArb).map(([k, v]) => `${k}=${v}`),
      valueArb,
      fc.constant(''),
    );
    const textArb = fc.tuple(fc.array(line, { maxLength: 12 }), fc.constantFrom('\n', '\r\n')).map(([lines, eol]) => lines.join(eol));
    fc.assert(
      fc.property(textArb, (text) => {
        const once = serializeKeyValue(parseKeyValue(text).doc, 'table');
        const reparsed = parseKeyValue(once);
        assert.deepEqual(reparsed.warnings, []);
        assert.equal(serializeKeyValue(reparsed.doc, 'table'), once);
      }),
      { numRuns: 300 },
    );
  });

  // A typed (JSON) document as a REST client sends it: strings, numbers, booleans; null = leave as is.
  const typedValue = fc.oneof(valueArb, fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean());

  it('toParams: the parameters of a document parse back to it', () => {
    fc.assert(
      fc.property(docArb(valueArb), (doc) => {
        const text = toParams(doc).map(([k, v]) => `${k}=${v}`).join('\n');
        assert.deepEqual(parseKeyValue(text).doc, doc);
      }),
    );
  });

  it('toParams of a partial document gives exactly the keys present (minimal set)', () => {
    // Reference walk, written independently: every non-null leaf → its key and expected value.
    function leaves(node: unknown, key: string, out: Array<[string, string]>): void {
      if (node === null || node === undefined) return;
      if (Array.isArray(node)) node.forEach((n, i) => leaves(n, `${key}[${i}]`, out));
      else if (typeof node === 'object') for (const [k, v] of Object.entries(node)) leaves(v, key ? `${key}.${k}` : k, out);
      else out.push([key, typeof node === 'boolean' ? String(node) : String(node)]);
    }
    // Removes the leaves the mask does not keep: delete, null or undefined, as a PATCH body would.
    function prune(node: unknown, mask: number[], counter: { i: number }): unknown {
      if (Array.isArray(node)) return node.map((n) => prune(n, mask, counter));
      if (node !== null && typeof node === 'object') {
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(node)) {
          const p = prune(v, mask, counter);
          if (p !== '\u0000drop') out[k] = p;
        }
        return out;
      }
      if (node === null) return null;
      const m = mask[counter.i++ % mask.length] as number;
      return m === 0 ? node : m === 1 ? null : m === 2 ? undefined : '\u0000drop';
    }
    fc.assert(
      fc.property(docArb(typedValue as fc.Arbitrary<CgiNode>), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 20 }), (doc, mask) => {
        const partial = prune(doc, mask, { i: 0 });
        const expected: Array<[string, string]> = [];
        leaves(partial, '', expected);
        const params = toParams(partial);
        assert.deepEqual(params, expected);
        assert.equal(new Set(params.map(([k]) => k)).size, params.length);
      }),
    );
  });
});

describe('toParams', () => {
  const cases: Array<[string, unknown, string | undefined, Array<[string, string]>]> = [
    ['one field', { General: { MachineName: 'x' } }, undefined, [['General.MachineName', 'x']]],
    ['2-D', { VideoColor: [[null, { Brightness: 50 }]] }, undefined, [['VideoColor[0][1].Brightness', '50']]],
    ['booleans and numbers', { a: true, b: false, c: 0.5, d: -3 }, undefined, [['a', 'true'], ['b', 'false'], ['c', '0.5'], ['d', '-3']]],
    ['null and undefined skipped', { a: null, b: undefined, c: [null, undefined, 'x'] }, undefined, [['c[2]', 'x']]],
    ['empty document', {}, undefined, []],
    ['prefix', { Brightness: 50 }, 'VideoColor[0][0]', [['VideoColor[0][0].Brightness', '50']]],
    ['array under a prefix', ['a', 'b'], 'X', [['X[0]', 'a'], ['X[1]', 'b']]],
    ['values kept exactly', { a: ' 007 ', b: 'x=y;z' }, undefined, [['a', ' 007 '], ['b', 'x=y;z']]],
  ];
  for (const [name, value, prefix, expected] of cases) {
    it(name, () => assert.deepEqual(toParams(value, prefix), expected));
  }

  for (const bad of ['a.b', 'a[0]', 'a b', 'a=b', 'a&b', '']) {
    it(`refuses the field name '${bad}' with a pointer`, () => {
      assert.throws(
        () => toParams({ General: { [bad]: 'x' } }),
        (err: unknown) => err instanceof ProblemError && err.code === 'VALIDATION_FAILED' && err.errors?.[0]?.pointer === `/General/${bad}`,
      );
    });
  }
  it('the pointer of a refusal includes the prefix', () => {
    assert.throws(
      () => toParams([{ 'a.b': 1 }], 'VideoColor[0]'),
      (err: unknown) => err instanceof ProblemError && err.errors?.[0]?.pointer === '/VideoColor/0/0/a.b',
    );
  });
  it("refuses '__proto__' from a JSON body", () => {
    assert.throws(() => toParams(JSON.parse('{"__proto__":{"x":"1"}}')), ProblemError);
  });
});

// --- typing by schema ---------------------------------------------------------------------------

const components: Record<string, JsonSchema> = {
  DayNight: { type: 'integer', enum: [0, 1, 2] },
  DayNightWide: { oneOf: [{ type: 'integer', enum: [0, 1, 2] }, { type: 'boolean' }] },
  Ref: { $ref: '#/components/schemas/DayNight' },
  Color: { type: 'object', additionalProperties: false, properties: { Brightness: { type: 'integer' }, TimeSection: { type: 'string' } } },
};
const resolveRef = (ref: string): JsonSchema => {
  const s = components[ref.replace('#/components/schemas/', '')];
  if (s === undefined) throw new Error(`unknown ${ref}`);
  return s;
};
const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });

describe('typeBySchema', () => {
  const cases: Array<{ name: string; node: CgiNode | undefined; schema: JsonSchema; value: unknown; warnings?: string[] }> = [
    { name: 'integer', node: '50', schema: { type: 'integer' }, value: 50 },
    { name: 'integer, trimmed', node: ' 50 ', schema: { type: 'integer' }, value: 50 },
    { name: 'integer, leading zeros', node: '007', schema: { type: 'integer' }, value: 7 },
    { name: 'integer, sign', node: '-3', schema: { type: 'integer' }, value: -3 },
    { name: 'integer, -0 is 0', node: '-0', schema: { type: 'integer' }, value: 0 },
    { name: 'integer from a float', node: '1.5', schema: { type: 'integer' }, value: '1.5', warnings: ["/x: expected integer, camera sent '1.5'"] },
    { name: 'integer too big', node: '99999999999999999999', schema: { type: 'integer' }, value: '99999999999999999999', warnings: ["/x: expected integer, camera sent '99999999999999999999'"] },
    { name: 'integer empty', node: '', schema: { type: 'integer' }, value: '', warnings: ["/x: expected integer, camera sent ''"] },
    { name: 'number', node: '80.000000', schema: { type: 'number' }, value: 80 },
    { name: 'number, exponent', node: '1e3', schema: { type: 'number' }, value: 1000 },
    { name: 'number, .5', node: '.5', schema: { type: 'number' }, value: 0.5 },
    { name: 'number, trailing space', node: '0.100000 ', schema: { type: 'number' }, value: 0.1 },
    { name: 'number, garbage', node: '1.2.3', schema: { type: 'number' }, value: '1.2.3', warnings: ["/x: expected number, camera sent '1.2.3'"] },
    { name: 'number, Infinity', node: 'Infinity', schema: { type: 'number' }, value: 'Infinity', warnings: ["/x: expected number, camera sent 'Infinity'"] },
    { name: 'number, hex', node: '0x10', schema: { type: 'number' }, value: '0x10', warnings: ["/x: expected number, camera sent '0x10'"] },
    { name: 'boolean true', node: 'true', schema: { type: 'boolean' }, value: true },
    { name: 'boolean any case', node: 'FALSE', schema: { type: 'boolean' }, value: false },
    { name: 'boolean 1', node: '1', schema: { type: 'boolean' }, value: '1', warnings: ["/x: expected boolean, camera sent '1'"] },
    { name: 'string exact', node: ' 007 ', schema: { type: 'string' }, value: ' 007 ' },
    { name: 'string enum', node: 'VBR', schema: { type: 'string', enum: ['CBR', 'VBR'] }, value: 'VBR' },
    { name: 'enum miss keeps the typed value', node: '3', schema: { type: 'integer', enum: [0, 1, 2] }, value: 3, warnings: ["/x: expected one of 0, 1, 2, camera sent '3'"] },
    {
      name: 'DayNightColor=false against the integer enum: raw kept, warned',
      node: 'false',
      schema: ref('DayNight'),
      value: 'false',
      warnings: ["/x: expected integer, camera sent 'false'"],
    },
    { name: 'DayNightColor widened by oneOf: boolean', node: 'false', schema: ref('DayNightWide'), value: false },
    { name: 'DayNightColor widened by oneOf: integer', node: '2', schema: ref('DayNightWide'), value: 2 },
    { name: 'oneOf: first that fits (enum)', node: '5', schema: { oneOf: [{ type: 'string', enum: ['Auto'] }, { type: 'integer' }] }, value: 5 },
    { name: 'anyOf', node: 'Auto', schema: { anyOf: [{ type: 'integer' }, { type: 'string' }] }, value: 'Auto' },
    { name: 'oneOf: none fits', node: 'x', schema: { oneOf: [{ type: 'integer' }, { type: 'boolean' }] }, value: 'x', warnings: ["/x: expected integer or boolean, camera sent 'x'"] },
    { name: '$ref chain', node: '1', schema: ref('Ref'), value: 1 },
    { name: 'type array, integer first', node: '5', schema: { type: ['integer', 'string'] }, value: 5 },
    { name: 'type array, falls to string', node: 'Auto', schema: { type: ['integer', 'string'] }, value: 'Auto' },
    { name: 'type array with null and a hole', node: null, schema: { type: ['integer', 'null'] }, value: null },
    { name: 'type array mismatch', node: 'x', schema: { type: ['integer', 'boolean'] }, value: 'x', warnings: ["/x: expected integer or boolean, camera sent 'x'"] },
    { name: 'enum without type', node: '1', schema: { enum: [0, 1] }, value: 1 },
    { name: 'no type: passed through', node: 'x', schema: { description: 'anything' }, value: 'x' },
    { name: 'missing value', node: undefined, schema: { type: 'integer' }, value: undefined },
    { name: 'hole against a non-null type', node: null, schema: { type: 'integer' }, value: null, warnings: ['/x: expected integer, camera sent nothing (sparse index)'] },
    { name: 'object where a value is expected', node: { a: '1' }, schema: { type: 'string' }, value: { a: '1' }, warnings: ['/x: expected string, camera sent an object'] },
    { name: 'value where an object is expected', node: '1', schema: ref('Color'), value: '1', warnings: ["/x: expected object, camera sent '1'"] },
    { name: 'list where an object is expected', node: ['1'], schema: { type: 'object' }, value: ['1'], warnings: ['/x: expected object, camera sent a list'] },
    {
      name: 'long raw value shortened in the warning',
      node: 'y'.repeat(100),
      schema: { type: 'integer' },
      value: 'y'.repeat(100),
      warnings: [`/x: expected integer, camera sent '${'y'.repeat(80)}…'`],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const warnings: string[] = [];
      assert.deepEqual(typeBySchema(c.node, c.schema, resolveRef, warnings, '/x'), c.value);
      assert.deepEqual(warnings, c.warnings ?? []);
    });
  }

  it('types a parsed getConfig answer: properties, items, additionalProperties, 2-D arrays', () => {
    const { doc } = parseKeyValue(
      [
        'table.VideoColor[0][0].Brightness=50',
        'table.VideoColor[0][0].TimeSection=1 00:00:00-24:00:00',
        'table.VideoColor[0][2].Brightness=007',
        'table.VideoColor[0][2].Gamma=3',
        'table.VideoInOptions[0].DayNightColor=false',
        'table.VideoInOptions[0].ExposureValue1=0.100000',
        'table.VideoInOptions[0].Mirror=TRUE',
        'table.VideoInOptions[0].Night.Brightness=40',
        'table.Extra.a=1',
        'table.Extra.b=x',
      ].join('\r\n'),
    );
    const schema: JsonSchema = {
      type: 'object',
      properties: {
        VideoColor: { type: 'array', items: { type: 'array', items: ref('Color') } },
        VideoInOptions: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              DayNightColor: ref('DayNight'),
              ExposureValue1: { type: 'number' },
              Mirror: { type: 'boolean' },
            },
            additionalProperties: { type: 'object', additionalProperties: { type: 'integer' } },
          },
        },
        Extra: { type: 'object', additionalProperties: { type: ['integer', 'string'] } },
      },
    };
    const warnings: string[] = [];
    const typed = typeBySchema(doc, schema, resolveRef, warnings);
    assert.deepEqual(typed, {
      VideoColor: [[{ Brightness: 50, TimeSection: '1 00:00:00-24:00:00' }, null, { Brightness: 7, Gamma: '3' }]],
      VideoInOptions: [{ DayNightColor: 'false', ExposureValue1: 0.1, Mirror: true, Night: { Brightness: 40 } }],
      Extra: { a: 1, b: 'x' },
    });
    assert.deepEqual(warnings, [
      '/VideoColor/0/1: expected object, camera sent nothing (sparse index)',
      '/VideoColor/0/2/Gamma: not in the schema, camera value kept as sent',
      "/VideoInOptions/0/DayNightColor: expected integer, camera sent 'false'",
    ]);
  });

  it('allOf merges object parts', () => {
    const warnings: string[] = [];
    const schema: JsonSchema = { allOf: [ref('Color'), { properties: { Extra: { type: 'boolean' } } }] };
    assert.deepEqual(typeBySchema({ Brightness: '1', Extra: 'true' }, schema, resolveRef, warnings), { Brightness: 1, Extra: true });
    assert.deepEqual(warnings, []);
  });

  it('leaves writeOnly properties (secrets the camera reads back) out of the answer', () => {
    const warnings: string[] = [];
    const schema: JsonSchema = {
      type: 'object',
      additionalProperties: false,
      properties: { UserName: { type: 'string' }, Password: { type: 'string', writeOnly: true }, Key: ref('Secret') },
    };
    const out = typeBySchema({ UserName: 'u', Password: 'hunter2', Key: 'k' }, schema, (r) => (r.endsWith('Secret') ? { type: 'string', writeOnly: true } : resolveRef(r)), warnings);
    assert.deepEqual(out, { UserName: 'u' });
    assert.deepEqual(warnings, []);
  });

  it('escapes JSON pointer segments', () => {
    const warnings: string[] = [];
    typeBySchema({ 'a/b~c': 'x' }, { type: 'object', additionalProperties: { type: 'integer' } }, resolveRef, warnings);
    assert.deepEqual(warnings, ["/a~1b~0c: expected integer, camera sent 'x'"]);
  });

  it('does not take properties from Object.prototype', () => {
    const warnings: string[] = [];
    const out = typeBySchema({ toString: '1', constructor: 'x' } as unknown as CgiNode, { type: 'object', properties: {} }, resolveRef, warnings);
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    assert.equal((out as Record<string, unknown>).toString, '1');
    assert.deepEqual(warnings, ['/constructor: forbidden key skipped']);
  });
});
