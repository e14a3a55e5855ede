// x-cgi value formats (adapters/rest/formats.ts): the one place camera time and bit sets convert.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cameraTimeToIso, fromCamera, isoToCameraTime, toCamera } from '../adapters/rest/formats.ts';
import { ProblemError } from '../gateway/problems.ts';

describe('formats', () => {
  it('camera time ↔ ISO 8601 local date-time', () => {
    for (const [camera, iso] of [
      ['2011-7-3 21:02:32', '2011-07-03T21:02:32'],
      [' 2011-07-03 21:02:32', '2011-07-03T21:02:32'],
      ['2016-1-1 0:0:0', '2016-01-01T00:00:00'],
    ] as const) {
      assert.equal(cameraTimeToIso(camera), iso);
    }
    assert.equal(isoToCameraTime('2016-01-01T21:02:32', '/time'), '2016-01-01 21:02:32');
    for (const bad of ['2016-02-30T00:00:00', '2016-13-01T00:00:00', '2016-01-01T24:00:00', '2016-01-01 21:02:32']) {
      assert.throws(() => isoToCameraTime(bad, '/time'), (e: unknown) => e instanceof ProblemError && e.code === 'VALIDATION_FAILED' && e.errors?.[0]?.pointer === '/time');
    }
    assert.throws(() => cameraTimeToIso('yesterday'), (e: unknown) => e instanceof ProblemError && e.code === 'CAMERA_PROTOCOL_ERROR');
  });

  it('bitset: bit n is channel n+1, both ways', () => {
    assert.deepEqual(fromCamera('bitset', '0'), []);
    assert.deepEqual(fromCamera('bitset', '5'), [1, 3]);
    assert.deepEqual(fromCamera('bitset', ' 4294967295'), Array.from({ length: 32 }, (_, i) => i + 1));
    assert.equal(toCamera('bitset', [1, 3], '/x'), '5');
    assert.equal(toCamera('bitset', [32], '/x'), '2147483648');
    for (const bad of ['-1', 'x', '4294967296', '1.5']) {
      assert.throws(() => fromCamera('bitset', bad), (e: unknown) => e instanceof ProblemError && e.code === 'CAMERA_PROTOCOL_ERROR');
    }
  });

  it('list and trim', () => {
    assert.deepEqual(fromCamera('list', 'SimpChinese, English,French,'), ['SimpChinese', 'English', 'French']);
    assert.equal(toCamera('list', ['a', 'b'], '/x'), 'a,b');
    assert.equal(fromCamera('trim', ' PA1FQ15900207 '), 'PA1FQ15900207');
  });
});
