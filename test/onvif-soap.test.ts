// The SOAP layer's pure parts: strict XML reading with namespaces, the writer, envelopes and
// faults of both SOAP versions, UsernameToken checks and the gateway's HTTP Digest verifier.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { DigestVerifier, DIGEST_REALM } from '../gateway/http-digest.ts';
import { NS, OnvifFault, parseEnvelope, renderEnvelope, renderFault } from '../adapters/onvif/soap.ts';
import { readUsernameToken, ReplayCache, usernameTokenXml, verifyUsernameToken } from '../adapters/onvif/wsse.ts';
import { el, formatDuration, parseDuration, parseXml, renderXml, textAt, XmlError } from '../adapters/onvif/xml.ts';
import { endpointReference, derivedHwAddress, uuidV5 } from '../adapters/onvif/identity.ts';

describe('XML reader', () => {
  it('resolves namespaces by prefix, default namespace and redeclaration', () => {
    const doc = parseXml('<a:Root xmlns:a="urn:a" xmlns="urn:d"><Child><a:Leaf x="1" a:y="2"> text </a:Leaf></Child><b:X xmlns:b="urn:a"/></a:Root>');
    assert.equal(doc.ns, 'urn:a');
    assert.equal(doc.children[0]!.ns, 'urn:d');
    const leaf = doc.children[0]!.children[0]!;
    assert.deepEqual([leaf.ns, leaf.local, leaf.text], ['urn:a', 'Leaf', 'text']);
    assert.equal(leaf.attrs.get('x'), '1');
    assert.equal(leaf.attrs.get('{urn:a}y'), '2');
    assert.equal(doc.children[1]!.ns, 'urn:a', 'another prefix for the same namespace is the same name');
    assert.equal(textAt(doc, 'Child', 'Leaf'), 'text');
  });

  it('refuses DOCTYPE and entity declarations (XXE, billion laughs)', () => {
    assert.throws(() => parseXml('<!DOCTYPE x [<!ENTITY e SYSTEM "http://127.0.0.1:9/canary">]><x>&e;</x>'), XmlError);
    assert.throws(() => parseXml('<!doctype x><x/>'), XmlError);
  });

  it('refuses malformed XML, undeclared prefixes and prototype-named elements without throwing anything else', () => {
    for (const bad of ['<a><b></a>', '<p:a/>', '<a>', '', 'not xml', '<a/><b/>', '<__proto__/>', '<x><constructor/></x>', '<x __proto__="1"/>']) {
      assert.throws(() => parseXml(bad), XmlError, bad);
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('tolerates trailing NULs', () => {
    assert.equal(parseXml('<a>1</a>\u0000\u0000').text, '1');
  });

  it('decodes the XML entities and keeps text exact', () => {
    assert.equal(parseXml('<a>x &amp; &lt;y&gt; &#65;</a>').text, 'x & <y> A');
  });
});

describe('XML writer', () => {
  it('writes prefixed elements, escapes text and attributes, leaves out absent content', () => {
    const xml = renderXml(el('tt:Profile', [el('tt:Name', 'a<b & "c"'), undefined, null, el('tt:Empty'), el('tt:N', 5), el('tt:B', false)], { token: 'x"y', fixed: true, skip: undefined }));
    assert.equal(xml, '<tt:Profile token="x&quot;y" fixed="true"><tt:Name>a&lt;b &amp; "c"</tt:Name><tt:Empty/><tt:N>5</tt:N><tt:B>false</tt:B></tt:Profile>');
  });

  it('drops characters XML 1.0 cannot carry', () => {
    assert.equal(renderXml(el('a', 'x\u0001y')), '<a>xy</a>');
  });
});

describe('durations', () => {
  it('formats and parses xs:duration the way ONVIF uses it', () => {
    assert.equal(formatDuration(10_000), 'PT10S');
    assert.equal(formatDuration(90_000), 'PT1M30S');
    assert.equal(formatDuration(0), 'PT0S');
    assert.equal(formatDuration(3_600_000), 'PT1H');
    assert.equal(parseDuration('PT10S'), 10_000);
    assert.equal(parseDuration('PT1M30.5S'), 90_500);
    assert.equal(parseDuration('P1DT1H'), 90_000_000);
    for (const bad of ['P1Y', 'PT', 'P', '10', 'PTxS']) assert.equal(parseDuration(bad), undefined, bad);
  });
});

describe('SOAP envelopes', () => {
  it('reads a 1.2 and a 1.1 envelope and finds the operation', () => {
    const e12 = parseEnvelope(`<e:Envelope xmlns:e="${NS.soap12}"><e:Body><d:GetHostname xmlns:d="${NS.tds}"/></e:Body></e:Envelope>`);
    assert.deepEqual([e12.version, e12.body.ns, e12.body.local], ['1.2', NS.tds, 'GetHostname']);
    const e11 = parseEnvelope(`<soapenv:Envelope xmlns:soapenv="${NS.soap11}"><soapenv:Header/><soapenv:Body><GetHostname xmlns="${NS.tds}"/></soapenv:Body></soapenv:Envelope>`);
    assert.deepEqual([e11.version, e11.body.local], ['1.1', 'GetHostname']);
    assert.ok(e11.header);
  });

  it('answers anything that is not an envelope with ter:WellFormed', () => {
    for (const bad of ['<x/>', `<s:Envelope xmlns:s="${NS.soap12}"><s:Body/></s:Envelope>`, '<<<', '<!DOCTYPE a><a/>']) {
      assert.throws(() => parseEnvelope(bad), (err: unknown) => err instanceof OnvifFault && err.subcodes.includes('ter:WellFormed') && err.httpStatus === 400, bad);
    }
  });

  it('declares every prefix on the Envelope and writes 1.2 faults with nested subcodes', () => {
    const ok = renderEnvelope('1.2', el('tds:GetHostnameResponse', el('tds:HostnameInformation', [el('tt:FromDHCP', false)])));
    const root = parseXml(ok);
    const response = root.children[0]!.children[0]!;
    assert.equal(response.ns, NS.tds);
    assert.equal(response.children[0]!.children[0]!.ns, NS.tt);
    const fault = parseXml(renderFault('1.2', new OnvifFault('Sender', ['ter:InvalidArgVal', 'ter:NoProfile'], 'no such profile')));
    const f = fault.children[0]!.children[0]!;
    assert.equal(f.local, 'Fault');
    assert.equal(textAt(f, 'Code', 'Value'), 's:Sender');
    assert.equal(textAt(f, 'Code', 'Subcode', 'Value'), 'ter:InvalidArgVal');
    assert.equal(textAt(f, 'Code', 'Subcode', 'Subcode', 'Value'), 'ter:NoProfile');
    assert.equal(textAt(f, 'Reason', 'Text'), 'no such profile');
  });

  it('writes a 1.1 fault in the 1.1 envelope with the precise subcode as faultcode', () => {
    const xml = renderFault('1.1', new OnvifFault('Sender', ['ter:NotAuthorized'], 'no'));
    const root = parseXml(xml);
    assert.equal(root.ns, NS.soap11);
    assert.equal(textAt(root.children[0]!.children[0], 'faultcode'), 'ter:NotAuthorized');
  });
});

describe('WS-UsernameToken', () => {
  const passwords: Record<string, string> = { admin: 'secret-1' };
  const lookup = (n: string) => passwords[n];
  const now = Date.parse('2026-11-25T12:00:00Z');
  function token(user: string, password: string, created: string, nonce = randomBytes(16)) {
    const xml = `<h xmlns:x="${NS.wsse}">${usernameTokenXml(user, password, created, nonce)}</h>`;
    return readUsernameToken(parseXml(xml))!;
  }

  it('accepts a PasswordDigest token signed with the raw Created string and the decoded nonce', () => {
    assert.deepEqual(verifyUsernameToken(token('admin', 'secret-1', '2026-11-25T12:00:00Z'), lookup, now, new ReplayCache()), { ok: true, username: 'admin' });
    // Created with milliseconds and another zone: hashed as sent.
    assert.equal(verifyUsernameToken(token('admin', 'secret-1', '2026-11-25T13:01:00.123+01:00'), lookup, now, new ReplayCache()).ok, true);
  });

  it('finds the token whatever the prefixes are', () => {
    const nonce = randomBytes(16);
    const created = '2026-11-25T12:00:00Z';
    const digest = createHash('sha1').update(Buffer.concat([nonce, Buffer.from(created), Buffer.from('secret-1')])).digest('base64');
    const xml = `<Header><Sec xmlns="${NS.wsse}"><UsernameToken><Username>admin</Username><Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest">${digest}</Password><Nonce>${nonce.toString('base64')}</Nonce><c:Created xmlns:c="${NS.wsu}">${created}</c:Created></UsernameToken></Sec></Header>`
      .replace('<Sec ', '<Security ').replace('</Sec>', '</Security>');
    assert.equal(verifyUsernameToken(readUsernameToken(parseXml(xml))!, lookup, now, new ReplayCache()).ok, true);
  });

  it('refuses a wrong password, an unknown user, text passwords, missing nonce, skew over 5 minutes and replays', () => {
    const replays = new ReplayCache();
    assert.equal(verifyUsernameToken(token('admin', 'wrong', '2026-11-25T12:00:00Z'), lookup, now, replays).ok, false);
    assert.equal(verifyUsernameToken(token('nobody', 'secret-1', '2026-11-25T12:00:00Z'), lookup, now, replays).ok, false);
    assert.equal(verifyUsernameToken(token('admin', 'secret-1', '2026-11-25T12:05:01Z'), lookup, now, replays).ok, false);
    assert.equal(verifyUsernameToken(token('admin', 'secret-1', '2026-11-25T11:54:59Z'), lookup, now, replays).ok, false);
    assert.equal(verifyUsernameToken(token('admin', 'secret-1', '2026-11-25T12:04:59Z'), lookup, now, replays).ok, true);
    const t = token('admin', 'secret-1', '2026-11-25T12:00:00Z');
    assert.equal(verifyUsernameToken(t, lookup, now, replays).ok, true);
    const again = verifyUsernameToken(t, lookup, now, replays);
    assert.equal(again.ok, false);
    assert.match((again as { reason: string }).reason, /already used/);
    assert.equal(verifyUsernameToken({ ...t, type: undefined, password: 'secret-1' }, lookup, now, replays).ok, false);
    assert.equal(verifyUsernameToken({ ...t, nonce: undefined }, lookup, now, replays).ok, false);
  });

  it('also accepts Created near the device time it reported (a camera whose clock is off)', () => {
    const twoHours = 2 * 3_600_000;
    const created = new Date(now + twoHours).toISOString();
    assert.equal(verifyUsernameToken(token('admin', 'secret-1', created), lookup, now, new ReplayCache()).ok, false);
    assert.equal(verifyUsernameToken(token('admin', 'secret-1', created), lookup, now, new ReplayCache(), now + twoHours).ok, true);
    assert.equal(verifyUsernameToken(token('admin', 'secret-1', new Date(now).toISOString()), lookup, now, new ReplayCache(), now + twoHours).ok, true, 'and still near ours');
    assert.equal(verifyUsernameToken(token('admin', 'secret-1', new Date(now + twoHours / 2).toISOString()), lookup, now, new ReplayCache(), now + twoHours).ok, false, 'not anything in between');
  });

  it('bounds the replay cache', () => {
    const cache = new ReplayCache(10);
    for (let i = 0; i < 100; i++) assert.equal(cache.firstUse(`k${i}`, 0), true);
    assert.equal(cache.firstUse('k99', 0), false);
  });
});

describe('HTTP Digest verifier', () => {
  const md5 = (s: string) => createHash('md5').update(s).digest('hex');
  function answer(challenge: string, user: string, password: string, method: string, uri: string, nc = '00000001') {
    const nonce = /nonce="([^"]+)"/.exec(challenge)![1]!;
    const cnonce = 'abc123';
    const ha1 = md5(`${user}:${DIGEST_REALM}:${password}`);
    const response = md5(`${ha1}:${nonce}:${nc}:${cnonce}:auth:${md5(`${method}:${uri}`)}`);
    return `Digest username="${user}", realm="${DIGEST_REALM}", nonce="${nonce}", uri="${uri}", qop=auth, nc=${nc}, cnonce="${cnonce}", response="${response}", algorithm=MD5`;
  }
  const lookup = (n: string) => (n === 'admin' ? 'pw' : undefined);

  it('accepts a right answer once per nc, and any order of nc', () => {
    let t = 1_000_000;
    const v = new DigestVerifier(() => t);
    const ch = v.challenge();
    assert.deepEqual(v.verify('POST', answer(ch, 'admin', 'pw', 'POST', '/onvif/device_service', '00000002'), lookup), { ok: true, username: 'admin' });
    assert.equal(v.verify('POST', answer(ch, 'admin', 'pw', 'POST', '/onvif/device_service', '00000001'), lookup).ok, true);
    assert.deepEqual(v.verify('POST', answer(ch, 'admin', 'pw', 'POST', '/onvif/device_service', '00000001'), lookup), { ok: false, stale: true });
    t += 6 * 60_000;
    assert.deepEqual(v.verify('POST', answer(ch, 'admin', 'pw', 'POST', '/x', '00000003'), lookup), { ok: false, stale: true }, 'an expired nonce is stale');
  });

  it('refuses wrong passwords, unknown users, forged nonces and other methods', () => {
    const v = new DigestVerifier();
    const ch = v.challenge();
    assert.deepEqual(v.verify('POST', answer(ch, 'admin', 'nope', 'POST', '/x'), lookup), { ok: false, stale: false });
    assert.deepEqual(v.verify('POST', answer(ch, 'eve', 'pw', 'POST', '/x'), lookup), { ok: false, stale: false });
    assert.deepEqual(v.verify('GET', answer(ch, 'admin', 'pw', 'POST', '/x'), lookup), { ok: false, stale: false });
    const forged = answer(ch.replace(/nonce="[^"]+"/, `nonce="${Buffer.alloc(24, 1).toString('base64url')}"`), 'admin', 'pw', 'POST', '/x');
    assert.deepEqual(v.verify('POST', forged, lookup), { ok: false, stale: false });
    assert.deepEqual(new DigestVerifier().verify('POST', answer(ch, 'admin', 'pw', 'POST', '/x'), lookup), { ok: false, stale: false }, 'another verifier\'s nonce');
  });
});

describe('identity', () => {
  it('gives every camera a stable, distinct UUIDv5 endpoint reference and hardware address', () => {
    assert.equal(endpointReference('cam1'), endpointReference('cam1'));
    assert.notEqual(endpointReference('cam1'), endpointReference('cam2'));
    assert.match(endpointReference('cam1'), /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    // RFC 4122 appendix B's example: the DNS namespace and "www.example.com" (as errata'd: v5).
    assert.equal(uuidV5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8'), '2ed6657d-e927-568b-95e1-2665a8aea6a2');
    assert.match(derivedHwAddress('cam1'), /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    assert.equal(parseInt(derivedHwAddress('cam1').slice(0, 2), 16) & 0x03, 0x02, 'locally administered, unicast');
    assert.notEqual(derivedHwAddress('cam1'), derivedHwAddress('cam2'));
  });
});
