// The event stream reader (vendor §4.9.17): table-driven against the document's example and the
// field quirks of design.md §4; chunking never changes what comes out.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { boundaryFromContentType, MultipartParser, parseEventInfo, type MultipartPart } from '../adapters/cgi/multipart.ts';

function bodies(parts: MultipartPart[]): string[] {
  return parts.map((p) => p.body.toString('latin1'));
}

function parseAll(boundary: string, input: string, chunks?: number[]): string[] {
  const p = new MultipartParser(boundary);
  const out: MultipartPart[] = [];
  if (!chunks) out.push(...p.push(Buffer.from(input, 'latin1')));
  else {
    let at = 0;
    for (const n of chunks) {
      out.push(...p.push(Buffer.from(input.slice(at, at + n), 'latin1')));
      at += n;
    }
    out.push(...p.push(Buffer.from(input.slice(at), 'latin1')));
  }
  out.push(...p.end());
  return bodies(out);
}

const part = (body: string, boundary = '--myboundary', length = Buffer.byteLength(body, 'latin1')): string =>
  `${boundary}\r\nContent-Type: text/plain\r\nContent-Length: ${length}\r\n\r\n${body}\r\n\r\n`;

const JSON_DATA = '{"RegionName":["Region1"],"Note":"a=b; c=d","LocaleTime":"2026-11-25 10:00:00"}';

describe('boundaryFromContentType', () => {
  const cases: Array<[string | undefined, string | null]> = [
    ['multipart/x-mixed-replace; boundary=myboundary', 'myboundary'],
    ['multipart/x-mixed-replace;boundary=myboundary', 'myboundary'],
    ['multipart/x-mixed-replace; boundary="my boundary"', 'my boundary'],
    ['multipart/x-mixed-replace; boundary=--myboundary', 'myboundary'],
    ['multipart/x-mixed-replace; BOUNDARY=abc; charset=utf-8', 'abc'],
    ['multipart/x-mixed-replace', null],
    ['text/plain', null],
    [undefined, null],
  ];
  for (const [ct, want] of cases) it(`${String(ct)} → ${String(want)}`, () => assert.equal(boundaryFromContentType(ct), want));
});

describe('MultipartParser: parts', () => {
  const cases: Array<{ name: string; boundary?: string; input: string; want: string[] }> = [
    { name: 'one part', input: part('Code=VideoMotion;action=Start;index=0'), want: ['Code=VideoMotion;action=Start;index=0'] },
    {
      name: 'several parts in one chunk',
      input: part('Heartbeat') + part('Code=VideoMotion;action=Start;index=0') + part('Code=VideoMotion;action=Stop;index=0'),
      want: ['Heartbeat', 'Code=VideoMotion;action=Start;index=0', 'Code=VideoMotion;action=Stop;index=0'],
    },
    {
      name: 'the vendor example: `-- myboundary ` with spaces and a wrong Content-Length',
      input:
        '-- myboundary \r\nContent-Type: text/plain\r\nContent-Length: 39\r\n\r\nCode=VideoMotion; action=Start; index=0\r\n\r\n' +
        '-- myboundary \r\nContent-Type: text/plain\r\nContent-Length: 38\r\n\r\nCode=VideoBlind; action=Start; index=0\r\n\r\n' +
        '-- myboundary \r\nContent-Type: text/plain\r\nContent-Length: 38\r\n\r\nCode= MDResult; action=Pulse; index=0; data=61708863,61708863\r\n\r\n' +
        '-- myboundary \r\n',
      want: ['Code=VideoMotion; action=Start; index=0', 'Code=VideoBlind; action=Start; index=0', 'Code= MDResult; action=Pulse; index=0; data=61708863,61708863'],
    },
    {
      name: 'a stray status line and response headers between parts',
      input: part('Code=A;action=Start;index=0') + 'HTTP/1.1 200 OK\r\nCache-Control: no-cache\r\nContent-Type: multipart/x-mixed-replace; boundary=myboundary\r\n\r\n' + part('Code=B;action=Start;index=1'),
      want: ['Code=A;action=Start;index=0', 'Code=B;action=Start;index=1'],
    },
    {
      name: 'a stray status line right after a boundary',
      input: '--myboundary\r\nHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nCode=A;action=Start;index=0\r\n\r\n',
      want: ['Code=A;action=Start;index=0'],
    },
    {
      name: 'data= JSON with ; and = over several lines, Content-Length right',
      input: part(`Code=VideoMotion; action=Start; index=0; data={\n  "a": "x;y=z",\n\n  "b": 1\n}`),
      want: [`Code=VideoMotion; action=Start; index=0; data={\n  "a": "x;y=z",\n\n  "b": 1\n}`],
    },
    {
      name: 'no Content-Length: ends at the empty line',
      input: '--myboundary\r\nContent-Type: text/plain\r\n\r\nCode=A;action=Pulse;index=2\r\n\r\n--myboundary\r\nContent-Type: text/plain\r\n\r\nHeartbeat\r\n\r\n',
      want: ['Code=A;action=Pulse;index=2', 'Heartbeat'],
    },
    {
      name: 'a part without headers',
      input: '--myboundary\r\nCode=A;action=Start;index=0\r\n\r\n--myboundary\r\n',
      want: ['Code=A;action=Start;index=0'],
    },
    {
      name: 'Content-Length too large: ends at the next boundary',
      input: part('Code=A;action=Start;index=0', '--myboundary', 80) + part('Heartbeat'),
      want: ['Code=A;action=Start;index=0', 'Heartbeat'],
    },
    { name: 'LF line ends', input: '--myboundary\nContent-Length: 9\n\nHeartbeat\n\n--myboundary\n', want: ['Heartbeat'] },
    { name: 'a closing boundary', input: part('Heartbeat') + '--myboundary--\r\n', want: ['Heartbeat'] },
    { name: 'preamble noise is skipped', input: 'garbage\r\n\r\n' + part('Heartbeat'), want: ['Heartbeat'] },
    { name: 'an event line without its boundary', input: part('Heartbeat') + 'Code=A;action=Stop;index=0\r\n\r\n', want: ['Heartbeat', 'Code=A;action=Stop;index=0'] },
    { name: 'an empty part carries nothing', input: '--myboundary\r\nContent-Length: 0\r\n\r\n\r\n' + part('Heartbeat'), want: ['Heartbeat'] },
    { name: 'another boundary name', boundary: 'xyz', input: part('Heartbeat', '--xyz'), want: ['Heartbeat'] },
  ];
  for (const c of cases) {
    it(c.name, () => assert.deepEqual(parseAll(c.boundary ?? 'myboundary', c.input), c.want));
  }

  it('delivers a part at its Content-Length, before the next part begins', () => {
    const p = new MultipartParser('myboundary');
    const got = bodies(p.push(part('Code=A;action=Start;index=0')));
    assert.deepEqual(got, ['Code=A;action=Start;index=0']);
  });

  it('drops parts over the cap and keeps going', () => {
    const p = new MultipartParser('myboundary', { maxPartBytes: 100 });
    const big = 'Code=A;action=Start;index=0;data=' + 'x'.repeat(500);
    const got = bodies([...p.push(part(big, '--myboundary', 0).replace('Content-Length: 0\r\n', '')), ...p.push(part('Heartbeat')), ...p.end()]);
    assert.deepEqual(got, ['Heartbeat']);
    assert.equal(p.stats.oversized, 1);
  });

  it('does not grow without bound on a stream without line ends', () => {
    const p = new MultipartParser('myboundary', { maxPartBytes: 1000 });
    for (let i = 0; i < 100; i++) p.push(Buffer.alloc(100, 0x41));
    assert.ok(p.stats.oversized >= 1);
    // The junk's tail spoils the line it runs into; the next part is read again.
    assert.deepEqual(bodies([...p.push('\r\n' + part('Heartbeat')), ...p.end()]), ['Heartbeat']);
  });
});

describe('MultipartParser: chunking', () => {
  const stream =
    part('Heartbeat') +
    part(`Code=VideoMotion; action=Start; index=0; data=${JSON_DATA}`) +
    'HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=myboundary\r\n\r\n' +
    part('Code=VideoMotion;action=Stop;index=0', '-- myboundary ') +
    part('Code= MDResult; action=Pulse; index=0; data=61708863,61708863', '-- myboundary ', 38) +
    part('Code=AlarmLocal;action=Start;index=1', '--myboundary', 80) +
    part('Heartbeat');
  const whole = parseAll('myboundary', stream);

  it('reads the reference stream', () => {
    assert.deepEqual(whole, [
      'Heartbeat',
      `Code=VideoMotion; action=Start; index=0; data=${JSON_DATA}`,
      'Code=VideoMotion;action=Stop;index=0',
      'Code= MDResult; action=Pulse; index=0; data=61708863,61708863',
      'Code=AlarmLocal;action=Start;index=1',
      'Heartbeat',
    ]);
  });

  it('gives the same parts however the bytes are split', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 200 }), (sizes) => {
        assert.deepEqual(parseAll('myboundary', stream, sizes), whole);
      }),
      { numRuns: 300 },
    );
  });

  it('gives the same parts byte by byte', () => {
    assert.deepEqual(parseAll('myboundary', stream, Array.from({ length: stream.length }, () => 1)), whole);
  });
});

describe('parseEventInfo', () => {
  const cases: Array<{ name: string; text: string; want: ReturnType<typeof parseEventInfo> }> = [
    { name: 'heartbeat', text: 'Heartbeat', want: { kind: 'heartbeat' } },
    {
      name: 'no spaces',
      text: 'Code=VideoMotion;action=Start;index=0',
      want: { kind: 'event', event: { code: 'VideoMotion', action: 'Start', index: 0, extra: {} } },
    },
    {
      name: '`; ` spacing and a space after =',
      text: 'Code= MDResult; action=Pulse; index=2; data=61708863,61708863',
      want: { kind: 'event', event: { code: 'MDResult', action: 'Pulse', index: 2, data: '61708863,61708863', extra: {} } },
    },
    {
      name: 'data= JSON with ; and = runs to the end of the part',
      text: `Code=VideoMotion;action=Start;index=0;data=${JSON_DATA}`,
      want: { kind: 'event', event: { code: 'VideoMotion', action: 'Start', index: 0, data: JSON.parse(JSON_DATA), extra: {} } },
    },
    {
      name: 'multi-line JSON data',
      text: 'Code=VideoMotion;action=Start;index=0;data={\n "a" : "b=c;d"\n}',
      want: { kind: 'event', event: { code: 'VideoMotion', action: 'Start', index: 0, data: { a: 'b=c;d' }, extra: {} } },
    },
    {
      name: 'broken JSON stays text',
      text: 'Code=X;action=Pulse;index=0;data={"a":',
      want: { kind: 'event', event: { code: 'X', action: 'Pulse', index: 0, data: '{"a":', extra: {} } },
    },
    {
      name: 'keys in any case, other fields kept',
      text: 'code=AlarmLocal; Action=Stop; Index=1; Source=terminal',
      want: { kind: 'event', event: { code: 'AlarmLocal', action: 'Stop', index: 1, extra: { Source: 'terminal' } } },
    },
    { name: 'no Code', text: 'hello=world', want: { kind: 'unknown', text: 'hello=world' } },
    { name: 'a bad index counts as 0', text: 'Code=A;action=Start;index=x', want: { kind: 'event', event: { code: 'A', action: 'Start', index: 0, extra: {} } } },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(parseEventInfo(c.text), c.want));

  it('never throws', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (s) => { parseEventInfo(s); }));
  });
});
