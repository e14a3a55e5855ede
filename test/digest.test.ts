import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  basicAuthorization, digestAuthorization, digestResponse, formatNc, newCnonce, parseAuthenticationInfo,
  parseChallenge, parseWwwAuthenticate, selectChallenge, type DigestChallenge,
} from '../adapters/cgi/digest.ts';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

// Vendor document §3.5, the digest example (typeset over several lines there).
const VENDOR_HEADER =
  'Digest realm="DH_00408CA5EA04", nonce="000562fdY631973ef04f77a3ede7c1832ff48720ef95ad", stale=FALSE, qop="auth"';

/** Splits `Digest a="b", c=d` (the header we build) into a map, keeping whether each value was quoted. */
function fields(authorization: string): Map<string, { value: string; quoted: boolean }> {
  const m = new Map<string, { value: string; quoted: boolean }>();
  const re = /([a-z*]+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/gi;
  for (const x of authorization.replace(/^\w+ /, '').matchAll(re)) {
    m.set(x[1]!, x[2] !== undefined ? { value: x[2].replace(/\\(.)/g, '$1'), quoted: true } : { value: x[3]!, quoted: false });
  }
  return m;
}

test('parseWwwAuthenticate: table of header shapes', () => {
  const cases: Array<{ name: string; header: string | string[]; expect: Array<{ scheme: string; params?: Record<string, string>; token68?: string }> }> = [
    {
      name: 'vendor example',
      header: VENDOR_HEADER,
      expect: [{ scheme: 'digest', params: { realm: 'DH_00408CA5EA04', nonce: '000562fdY631973ef04f77a3ede7c1832ff48720ef95ad', stale: 'FALSE', qop: 'auth' } }],
    },
    {
      name: 'two challenges in one header, comma inside quoted qop',
      header: 'Digest realm="Login to X", qop="auth,auth-int", nonce="n1", algorithm=MD5, Basic realm="Login to X"',
      expect: [
        { scheme: 'digest', params: { realm: 'Login to X', qop: 'auth,auth-int', nonce: 'n1', algorithm: 'MD5' } },
        { scheme: 'basic', params: { realm: 'Login to X' } },
      ],
    },
    {
      name: 'several headers',
      header: ['Basic realm="b"', 'Digest realm="r", nonce="n"'],
      expect: [{ scheme: 'basic', params: { realm: 'b' } }, { scheme: 'digest', params: { realm: 'r', nonce: 'n' } }],
    },
    {
      name: 'case-insensitive scheme and names, unquoted values with = in them',
      header: 'DIGEST REALM=r, Nonce=abc==, QOP=auth, Stale=TRUE',
      expect: [{ scheme: 'digest', params: { realm: 'r', nonce: 'abc==', qop: 'auth', stale: 'TRUE' } }],
    },
    {
      name: 'commas and escaped quotes inside quoted strings',
      header: 'Digest realm="a, \\"b\\", c", nonce="x,y", opaque=""',
      expect: [{ scheme: 'digest', params: { realm: 'a, "b", c', nonce: 'x,y', opaque: '' } }],
    },
    {
      name: 'extra whitespace, tabs, empty list elements',
      header: ' ,  Digest\trealm = "r" ,, nonce= "n" ,',
      expect: [{ scheme: 'digest', params: { realm: 'r', nonce: 'n' } }],
    },
    {
      name: 'token68 scheme before a parameter scheme',
      header: 'Negotiate abc==, Basic realm="x"',
      expect: [{ scheme: 'negotiate', token68: 'abc==' }, { scheme: 'basic', params: { realm: 'x' } }],
    },
    {
      name: 'bare schemes',
      header: 'Basic, Digest realm="r", nonce="n"',
      expect: [{ scheme: 'basic' }, { scheme: 'digest', params: { realm: 'r', nonce: 'n' } }],
    },
    {
      name: 'vendor Basic example with typographic quotes',
      header: 'Basic realm=\u201dXXXXXX\u201d',
      expect: [{ scheme: 'basic', params: { realm: '\u201dXXXXXX\u201d' } }],
    },
    { name: 'empty', header: '', expect: [] },
    { name: 'garbage', header: '=,,"x" ,= =', expect: [] },
    {
      name: 'duplicate parameter: the first wins',
      header: 'Digest nonce="a", nonce="b"',
      expect: [{ scheme: 'digest', params: { nonce: 'a' } }],
    },
    {
      name: 'unterminated quote at the end',
      header: 'Digest realm="r", nonce="abc',
      expect: [{ scheme: 'digest', params: { realm: 'r', nonce: 'abc' } }],
    },
  ];
  for (const c of cases) {
    const got = parseWwwAuthenticate(c.header).map((ch) => ({
      scheme: ch.scheme,
      ...(Object.keys(ch.params).length ? { params: { ...ch.params } } : {}),
      ...(ch.token68 !== undefined ? { token68: ch.token68 } : {}),
    }));
    assert.deepEqual(got, c.expect, c.name);
  }
});

test('selectChallenge / parseChallenge: which challenge is answered', () => {
  const cases: Array<{ name: string; header: string | string[] | undefined; expect: Partial<DigestChallenge> | { scheme: 'basic'; realm: string } | null }> = [
    { name: 'vendor example', header: VENDOR_HEADER, expect: { scheme: 'digest', realm: 'DH_00408CA5EA04', algorithm: 'MD5', qop: 'auth', stale: false } },
    { name: 'stale=true', header: 'Digest realm="r", nonce="n", stale=true, qop=auth', expect: { stale: true } },
    { name: 'stale=TRUE', header: 'Digest realm="r", nonce="n", stale=TRUE', expect: { stale: true } },
    { name: 'stale="true" quoted', header: 'Digest realm="r", nonce="n", stale="true"', expect: { stale: true } },
    { name: 'stale=false', header: 'Digest realm="r", nonce="n", stale=false', expect: { stale: false } },
    { name: 'stale absent', header: 'Digest realm="r", nonce="n"', expect: { stale: false, qop: undefined } },
    { name: 'Digest preferred over Basic listed first', header: 'Basic realm="b", Digest realm="d", nonce="n"', expect: { scheme: 'digest', realm: 'd' } },
    {
      name: 'SHA-256 preferred when offered',
      header: ['Digest realm="r", nonce="m", algorithm=MD5, qop="auth"', 'Digest realm="r", nonce="s", algorithm=SHA-256, qop="auth"'],
      expect: { algorithm: 'SHA-256', nonce: 's' },
    },
    { name: 'MD5-sess any case', header: 'Digest realm="r", nonce="n", algorithm=md5-SESS', expect: { algorithm: 'MD5-sess' } },
    { name: 'auth-int only', header: 'Digest realm="r", nonce="n", qop="auth-int"', expect: { qop: 'auth-int' } },
    { name: 'auth preferred over auth-int', header: 'Digest realm="r", nonce="n", qop="auth-int, auth"', expect: { qop: 'auth' } },
    { name: 'opaque kept', header: 'Digest realm="r", nonce="n", opaque="o p"', expect: { opaque: 'o p' } },
    { name: 'unknown algorithm falls back to Basic', header: 'Digest realm="r", nonce="n", algorithm=SHA3, Basic realm="b"', expect: { scheme: 'basic', realm: 'b' } },
    { name: 'digest without nonce is unusable', header: 'Digest realm="r"', expect: null },
    { name: 'unknown qop only is unusable', header: 'Digest realm="r", nonce="n", qop="x"', expect: null },
    { name: 'no header', header: undefined, expect: null },
    { name: 'Basic only', header: 'Basic realm="Login to ABC"', expect: { scheme: 'basic', realm: 'Login to ABC' } },
  ];
  for (const c of cases) {
    const got = parseChallenge(c.header);
    if (c.expect === null) { assert.equal(got, null, c.name); continue; }
    assert.ok(got, c.name);
    for (const [k, v] of Object.entries(c.expect)) assert.equal((got as unknown as Record<string, unknown>)[k], v, `${c.name}: ${k}`);
  }
  assert.equal(selectChallenge([]), null);
});

test('digest response: vendor example, computed independently', () => {
  const ch = parseChallenge(VENDOR_HEADER) as DigestChallenge;
  // The vendor document does not print the password behind its example response
  // (65002de0...); we sign its exact challenge with admin/admin and check against a
  // straight RFC 2617 computation.
  const uri = '/cgi-bin/magicBox.cgi?action=getLanguageCaps';
  const header = digestAuthorization({ challenge: ch, username: 'admin', password: 'admin', method: 'GET', uri, nc: 1, cnonce: '0a4f113b' });
  const ha1 = md5('admin:DH_00408CA5EA04:admin');
  const ha2 = md5(`GET:${uri}`);
  const expected = md5(`${ha1}:000562fdY631973ef04f77a3ede7c1832ff48720ef95ad:00000001:0a4f113b:auth:${ha2}`);
  const f = fields(header);
  assert.ok(header.startsWith('Digest '));
  assert.deepEqual(f.get('response'), { value: expected, quoted: true });
  assert.deepEqual(f.get('username'), { value: 'admin', quoted: true });
  assert.deepEqual(f.get('realm'), { value: 'DH_00408CA5EA04', quoted: true });
  assert.deepEqual(f.get('nonce'), { value: '000562fdY631973ef04f77a3ede7c1832ff48720ef95ad', quoted: true });
  assert.deepEqual(f.get('uri'), { value: uri, quoted: true });
  assert.deepEqual(f.get('cnonce'), { value: '0a4f113b', quoted: true });
  assert.deepEqual(f.get('qop'), { value: 'auth', quoted: false });
  assert.deepEqual(f.get('nc'), { value: '00000001', quoted: false });
  assert.deepEqual(f.get('algorithm'), { value: 'MD5', quoted: false });
  assert.equal(f.has('opaque'), false);
});

test('digest response: published RFC vectors and variants', () => {
  const rfc7616 = { realm: 'http-auth@example.org', nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v', qop: 'auth' as const, stale: false, scheme: 'digest' as const };
  const base = { username: 'Mufasa', password: 'Circle of Life', method: 'GET', uri: '/dir/index.html', nc: 1, cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ' };
  const cases: Array<{ name: string; challenge: DigestChallenge; input?: Partial<typeof base>; expect: string }> = [
    { name: 'RFC 7616 §3.9.1 MD5', challenge: { ...rfc7616, algorithm: 'MD5' }, expect: '8ca523f5e9506fed4657c9700eebdbec' },
    { name: 'RFC 7616 §3.9.1 SHA-256', challenge: { ...rfc7616, algorithm: 'SHA-256' }, expect: '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1' },
    {
      name: 'RFC 2617 §3.5',
      challenge: { scheme: 'digest', realm: 'testrealm@host.com', nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093', qop: 'auth', algorithm: 'MD5', stale: false },
      input: { password: 'Circle Of Life', cnonce: '0a4f113b' },
      expect: '6629fae49393a05397450978507c4ef1',
    },
    {
      name: 'MD5-sess (HA1 bound to nonce and cnonce)',
      challenge: { scheme: 'digest', realm: 'r', nonce: 'n', qop: 'auth', algorithm: 'MD5-sess', stale: false },
      input: { username: 'u', password: 'p', uri: '/x?a=1', nc: 0x1f, cnonce: 'c' },
      expect: md5(`${md5(`${md5('u:r:p')}:n:c`)}:n:0000001f:c:auth:${md5('GET:/x?a=1')}`),
    },
    {
      name: 'SHA-256-sess',
      challenge: { scheme: 'digest', realm: 'r', nonce: 'n', qop: 'auth', algorithm: 'SHA-256-sess', stale: false },
      input: { username: 'u', password: 'p', uri: '/x', nc: 2, cnonce: 'c' },
      expect: sha256(`${sha256(`${sha256('u:r:p')}:n:c`)}:n:00000002:c:auth:${sha256('GET:/x')}`),
    },
    {
      name: 'no qop (RFC 2069)',
      challenge: { scheme: 'digest', realm: 'r', nonce: 'n', algorithm: 'MD5', stale: false },
      input: { username: 'u', password: 'p', uri: '/x' },
      expect: md5(`${md5('u:r:p')}:n:${md5('GET:/x')}`),
    },
    {
      name: 'auth-int over an empty body',
      challenge: { scheme: 'digest', realm: 'r', nonce: 'n', qop: 'auth-int', algorithm: 'MD5', stale: false },
      input: { username: 'u', password: 'p', uri: '/x', cnonce: 'c' },
      expect: md5(`${md5('u:r:p')}:n:00000001:c:auth-int:${md5(`GET:/x:${md5('')}`)}`),
    },
    {
      name: 'URI signed byte for byte, brackets and %XX untouched',
      challenge: { scheme: 'digest', realm: 'r', nonce: 'n', qop: 'auth', algorithm: 'MD5', stale: false },
      input: { username: 'u', password: 'p', uri: '/cgi-bin/configManager.cgi?action=setConfig&VideoColor[0][0].Brightness=50&General.MachineName=a%20b%2B', cnonce: 'c' },
      expect: md5(`${md5('u:r:p')}:n:00000001:c:auth:${md5('GET:/cgi-bin/configManager.cgi?action=setConfig&VideoColor[0][0].Brightness=50&General.MachineName=a%20b%2B')}`),
    },
  ];
  for (const c of cases) {
    const input = { ...base, ...c.input, challenge: c.challenge };
    assert.equal(digestResponse(input), c.expect, c.name);
    const header = digestAuthorization(input);
    assert.equal(fields(header).get('response')?.value, c.expect, `${c.name} (header)`);
    assert.equal(fields(header).get('uri')?.value, input.uri, `${c.name} (uri)`);
    assert.equal(fields(header).get('algorithm')?.value, c.challenge.algorithm, `${c.name} (algorithm)`);
    assert.equal(fields(header).has('qop'), c.challenge.qop !== undefined, `${c.name} (qop presence)`);
    assert.equal(fields(header).has('nc'), c.challenge.qop !== undefined, `${c.name} (nc presence)`);
  }
});

test('digestAuthorization: opaque echoed, quoting escaped, UTF-8 usernames use username*', () => {
  const ch: DigestChallenge = { scheme: 'digest', realm: 'a "quoted" realm', nonce: 'n', opaque: 'op', qop: 'auth', algorithm: 'MD5', stale: false };
  const h = digestAuthorization({ challenge: ch, username: 'ad"min', password: 'p', method: 'GET', uri: '/x', nc: 3 });
  assert.match(h, /realm="a \\"quoted\\" realm"/);
  assert.match(h, /username="ad\\"min"/);
  assert.match(h, /opaque="op"/);
  assert.match(h, /nc=00000003(,|$)/);
  const f = fields(h);
  assert.match(f.get('cnonce')!.value, /^[0-9a-f]{32}$/);
  const u = digestAuthorization({ challenge: ch, username: 'jürgen', password: 'p', method: 'GET', uri: '/x', nc: 1 });
  assert.match(u, /username\*=UTF-8''j%C3%BCrgen/);
});

test('nc formatting and cnonce randomness', () => {
  const cases: Array<[number, string]> = [[1, '00000001'], [10, '0000000a'], [255, '000000ff'], [0x12345678, '12345678'], [0xffffffff, 'ffffffff']];
  for (const [n, s] of cases) assert.equal(formatNc(n), s);
  for (const bad of [0, -1, 1.5, 2 ** 32]) assert.throws(() => formatNc(bad), RangeError);
  const seen = new Set(Array.from({ length: 100 }, () => newCnonce()));
  assert.equal(seen.size, 100);
});

test('basicAuthorization (RFC 7617 example and UTF-8)', () => {
  assert.equal(basicAuthorization('Aladdin', 'open sesame'), 'Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==');
  assert.equal(basicAuthorization('test', '123\u00a3'), 'Basic dGVzdDoxMjPCow==');
});

test('parseAuthenticationInfo: nextnonce', () => {
  const cases: Array<[string | string[] | undefined, Record<string, string>]> = [
    ['nextnonce="abc", qop=auth, rspauth="d", cnonce="c", nc=00000001', { nextnonce: 'abc', qop: 'auth', rspauth: 'd', cnonce: 'c', nc: '00000001' }],
    ['NextNonce=xyz', { nextnonce: 'xyz' }],
    [['qop=auth', 'nextnonce="n2"'], { qop: 'auth', nextnonce: 'n2' }],
    [undefined, {}],
    ['', {}],
  ];
  for (const [h, e] of cases) assert.deepEqual(parseAuthenticationInfo(h), e, String(h));
});
