// WS-Discovery over loopback unicast: a Probe datagram sent to the listener's port is answered
// with one ProbeMatches per camera (multicast Hello/Bye are exercised in the interop suite's
// private network namespace).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { scopeMatches, startDiscovery, WSD, type Discovery } from '../adapters/onvif/discovery.ts';
import { endpointReference } from '../adapters/onvif/identity.ts';
import { NS } from '../adapters/onvif/soap.ts';
import { child, parseXml, type XmlNode } from '../adapters/onvif/xml.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CameraRegistry } from '../gateway/cameras.ts';
import { ConfigError, loadConfig } from '../gateway/config.ts';
import { createLogger } from '../gateway/logger.ts';
import { startSimulator, type Simulator } from '../simulator/server.ts';
import { op, soapCall } from './onvif-client.ts';
import { startStack, USERS } from './stack.ts';

const HTTP_PORT = 18_080;
const logger = createLogger('silent', new Writable({ write: (_c, _e, done) => done() }));

function probeXml(messageId: string, body: string, extraNs = ''): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="${NS.soap12}" xmlns:a="${WSD.addressing}"${extraNs}>` +
    `<s:Header><a:Action s:mustUnderstand="1">${WSD.discovery}/Probe</a:Action><a:MessageID>${messageId}</a:MessageID>` +
    `<a:ReplyTo><a:Address>${WSD.anonymous}</a:Address></a:ReplyTo><a:To s:mustUnderstand="1">${WSD.to}</a:To></s:Header>` +
    `<s:Body>${body}</s:Body></s:Envelope>`
  );
}

const nvtProbe = (id: string) =>
  probeXml(id, `<d:Probe xmlns:d="${WSD.discovery}"><d:Types xmlns:x="${WSD.network}">x:NetworkVideoTransmitter</d:Types></d:Probe>`);

interface Match {
  relatesTo: string;
  action: string;
  address: string;
  types: string[];
  scopes: string[];
  xaddrs: string;
  metadataVersion: string;
}

function readMatches(xml: string): Match[] {
  const root = parseXml(xml);
  assert.equal(root.ns, NS.soap12);
  const header = child(root, 'Header', NS.soap12)!;
  const matches = child(child(root, 'Body', NS.soap12), 'ProbeMatches', WSD.discovery);
  assert.ok(matches, `not a ProbeMatches: ${xml}`);
  return matches.children.map((m: XmlNode) => {
    assert.equal(m.ns, WSD.discovery);
    const types = child(m, 'Types', WSD.discovery)!;
    return {
      relatesTo: child(header, 'RelatesTo', WSD.addressing)?.text ?? '',
      action: child(header, 'Action', WSD.addressing)?.text ?? '',
      address: child(child(m, 'EndpointReference', WSD.addressing), 'Address', WSD.addressing)?.text ?? '',
      // Types resolved through the answer's own prefix declarations: {namespace}local.
      types: types.text.split(/\s+/).map((q) => {
        const [p, l] = q.split(':');
        return `{${types.scope?.get(p!)}}${l}`;
      }),
      scopes: (child(m, 'Scopes', WSD.discovery)?.text ?? '').split(/\s+/),
      xaddrs: child(m, 'XAddrs', WSD.discovery)?.text ?? '',
      metadataVersion: child(m, 'MetadataVersion', WSD.discovery)?.text ?? '',
    };
  });
}

/** A client socket that collects every datagram it receives. */
async function client(): Promise<{ socket: Socket; received: string[]; send(xml: string, port: number): Promise<void> }> {
  const socket = createSocket('udp4');
  const received: string[] = [];
  socket.on('message', (m) => received.push(m.toString('utf8')));
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  return {
    socket,
    received,
    send: (xml, port) => new Promise<void>((r, j) => socket.send(xml, port, '127.0.0.1', (e) => (e ? j(e) : r()))),
  };
}

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting for datagrams');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const settle = () => new Promise((r) => setTimeout(r, 250));

describe('WS-Discovery', () => {
  let sim: Simulator;
  let cameras: CameraRegistry;
  let discovery: Discovery;
  let c: Awaited<ReturnType<typeof client>>;

  before(async () => {
    sim = await startSimulator({ model: 'WV-V2530LK', username: 'admin', password: 'cam-pass-Secret9' });
    cameras = new CameraRegistry();
    cameras.add({ id: 'cam1', baseUrl: sim.url, username: 'admin', password: 'cam-pass-Secret9', model: 'WV-V2530LK' }, logger, true);
    cameras.add({ id: 'lobby', baseUrl: sim.url, username: 'admin', password: 'cam-pass-Secret9', model: 'WV-V1330L1' }, logger, true);
    discovery = await startDiscovery({
      cameras: () => cameras.list(),
      httpPort: HTTP_PORT,
      cameraPort: (id) => (id === 'lobby' ? 8001 : undefined),
      logger,
      port: 0,
      bindAddress: '127.0.0.1',
      multicast: false,
      maxReplyDelayMs: 0,
    });
    c = await client();
  });
  after(async () => {
    c.socket.close();
    await discovery.stop();
    await cameras.close();
    await sim.close();
  });

  test('a Probe for NetworkVideoTransmitter gets one ProbeMatches per camera, unicast to the sender', async () => {
    const id = `urn:uuid:${randomUUID()}`;
    const start = c.received.length;
    await c.send(nvtProbe(id), discovery.port);
    await until(() => c.received.length - start >= 2);
    await settle();
    const answers = c.received.slice(start);
    assert.equal(answers.length, 2);
    const matches = answers.flatMap(readMatches);
    assert.equal(matches.length, 2, 'one ProbeMatch in each message');
    for (const m of matches) {
      assert.equal(m.relatesTo, id);
      assert.equal(m.action, `${WSD.discovery}/ProbeMatches`);
      assert.deepEqual(m.types.sort(), [`{${WSD.network}}NetworkVideoTransmitter`, `{${NS.tds}}Device`].sort());
      assert.equal(m.metadataVersion, '1');
    }
    const byAddress = new Map(matches.map((m) => [m.address, m]));
    const cam1 = byAddress.get(endpointReference('cam1'));
    const lobby = byAddress.get(endpointReference('lobby'));
    assert.ok(cam1 && lobby, 'endpoint references are the cameras\' UUIDv5');
    assert.equal(cam1.xaddrs, `http://127.0.0.1:${HTTP_PORT}/onvif/cam1/device_service`);
    // A camera with an ONVIF port of its own lists that address first, then the shared path.
    assert.equal(lobby.xaddrs, `http://127.0.0.1:8001/onvif/device_service http://127.0.0.1:${HTTP_PORT}/onvif/lobby/device_service`);
    assert.ok(cam1.scopes.includes('onvif://www.onvif.org/hardware/WV-V2530LK'), cam1.scopes.join(' '));
    assert.ok(lobby.scopes.includes('onvif://www.onvif.org/hardware/WV-V1330L1'), lobby.scopes.join(' '));
    assert.ok(cam1.scopes.some((s) => s.startsWith('onvif://www.onvif.org/Profile/')));
  });

  test('libonvif\'s Probe (default-namespace Probe, dp0:Device) and an empty Probe match', async () => {
    const a = `uuid:${randomUUID()}`;
    const b = `uuid:${randomUUID()}`;
    const start = c.received.length;
    await c.send(
      probeXml(a, `<Probe xmlns="${WSD.discovery}"><d:Types xmlns:d="${WSD.discovery}" xmlns:dp0="${NS.tds}">dp0:Device</d:Types></Probe>`),
      discovery.port,
    );
    await c.send(probeXml(b, `<d:Probe xmlns:d="${WSD.discovery}"/>`), discovery.port);
    await until(() => c.received.length - start >= 4);
    await settle();
    const matches = c.received.slice(start).flatMap(readMatches);
    assert.equal(matches.filter((m) => m.relatesTo === a).length, 2);
    assert.equal(matches.filter((m) => m.relatesTo === b).length, 2);
  });

  test('types are matched by qualified name: same local name in another namespace, or unknown types, get no answer', async () => {
    const wrongNs = `uuid:${randomUUID()}`;
    const unknown = `uuid:${randomUUID()}`;
    const undeclared = `uuid:${randomUUID()}`;
    const good = `uuid:${randomUUID()}`;
    const start = c.received.length;
    await c.send(
      probeXml(wrongNs, `<d:Probe xmlns:d="${WSD.discovery}"><d:Types xmlns:x="http://example.com/other">x:NetworkVideoTransmitter</d:Types></d:Probe>`),
      discovery.port,
    );
    await c.send(
      probeXml(unknown, `<d:Probe xmlns:d="${WSD.discovery}"><d:Types xmlns:x="${WSD.network}">x:NetworkVideoTransmitter x:NetworkVideoDisplay</d:Types></d:Probe>`),
      discovery.port,
    );
    await c.send(probeXml(undeclared, `<d:Probe xmlns:d="${WSD.discovery}"><d:Types>nope:Device</d:Types></d:Probe>`), discovery.port);
    await c.send(nvtProbe(good), discovery.port);
    await until(() => c.received.length - start >= 2);
    await settle();
    const matches = c.received.slice(start).flatMap(readMatches);
    assert.deepEqual(
      matches.map((m) => m.relatesTo),
      [good, good],
    );
  });

  test('scopes follow the RFC 3986 prefix rule and strcmp0', async () => {
    assert.equal(scopeMatches('onvif://www.onvif.org/hardware', 'onvif://www.onvif.org/hardware/WV-V2530LK'), true);
    assert.equal(scopeMatches('ONVIF://WWW.ONVIF.ORG/hardware/', 'onvif://www.onvif.org/hardware/WV-V2530LK'), true);
    assert.equal(scopeMatches('onvif://www.onvif.org/hard', 'onvif://www.onvif.org/hardware/WV-V2530LK'), false, 'segment, not string, prefix');
    assert.equal(scopeMatches('onvif://www.onvif.org/HARDWARE', 'onvif://www.onvif.org/hardware/WV-V2530LK'), false, 'paths are case-sensitive');
    assert.equal(scopeMatches('onvif://example.org/hardware', 'onvif://www.onvif.org/hardware/WV-V2530LK'), false);
    assert.equal(scopeMatches('onvif://www.onvif.org/hardware', 'onvif://www.onvif.org/hardware/WV-V2530LK', WSD.strcmp0), false);
    assert.equal(scopeMatches('onvif://www.onvif.org/hardware/X', 'onvif://www.onvif.org/hardware/X', WSD.strcmp0), true);
    assert.equal(scopeMatches('a', 'a', 'http://example.com/unknown-rule'), false);

    // Over the wire: only the camera whose hardware scope matches answers.
    const id = `uuid:${randomUUID()}`;
    const start = c.received.length;
    await c.send(
      probeXml(id, `<d:Probe xmlns:d="${WSD.discovery}"><d:Scopes>onvif://www.onvif.org/hardware/WV-V1330L1 onvif://www.onvif.org/Profile</d:Scopes></d:Probe>`),
      discovery.port,
    );
    await until(() => c.received.length - start >= 1);
    await settle();
    const matches = c.received.slice(start).flatMap(readMatches);
    assert.deepEqual(
      matches.map((m) => m.address),
      [endpointReference('lobby')],
    );
  });

  test('a retransmitted Probe (same MessageID, same sender) is answered once; junk and DOCTYPE are ignored', async () => {
    const id = `uuid:${randomUUID()}`;
    const start = c.received.length;
    await c.send('not xml at all <', discovery.port);
    await c.send(`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>${nvtProbe(`uuid:${randomUUID()}`).replace(/^<\?xml[^>]*>/, '')}`, discovery.port);
    await c.send(nvtProbe(id), discovery.port);
    await c.send(nvtProbe(id), discovery.port);
    await c.send(nvtProbe(id), discovery.port);
    await until(() => c.received.length - start >= 2);
    await settle();
    const matches = c.received.slice(start).flatMap(readMatches);
    assert.equal(matches.length, 2);
    assert.ok(matches.every((m) => m.relatesTo === id));

    // Another sender with the same MessageID (libonvif reuses one) is answered too.
    const other = await client();
    try {
      await other.send(nvtProbe(id), discovery.port);
      await until(() => other.received.length >= 2);
    } finally {
      other.socket.close();
    }
  });

  test('a burst of Probes is answered only up to the per-second budget (no reflection amplifier)', async () => {
    const other = await client();
    try {
      const ids = Array.from({ length: 60 }, () => `uuid:${randomUUID()}`);
      await Promise.all(ids.map((id) => other.send(nvtProbe(id), discovery.port)));
      await new Promise((r) => setTimeout(r, 600));
      const answered = new Set(other.received.flatMap(readMatches).map((m) => m.relatesTo));
      assert.ok(answered.size >= 1, 'some Probes are answered');
      // 20 a second; a burst that straddles a second boundary may get two budgets.
      assert.ok(answered.size <= 40, `${answered.size} of 60 Probes answered`);
    } finally {
      other.socket.close();
    }
    // The next second answers again.
    await new Promise((r) => setTimeout(r, 1100));
    const start = c.received.length;
    await c.send(nvtProbe(`uuid:${randomUUID()}`), discovery.port);
    await until(() => c.received.length - start >= 2);
  });

  test('cameras added at run time are found; XAddrs use a configured public origin or a bound HTTP address', async () => {
    const extra = await startDiscovery({
      cameras: () => cameras.list(),
      httpPort: HTTP_PORT,
      publicOrigin: 'https://cams.example.org:8443/',
      logger,
      port: 0,
      bindAddress: '127.0.0.1',
      multicast: false,
      maxReplyDelayMs: 0,
    });
    const bound = await startDiscovery({
      cameras: () => cameras.list(),
      httpPort: HTTP_PORT,
      httpHost: '127.0.0.9',
      logger,
      port: 0,
      bindAddress: '127.0.0.1',
      multicast: false,
      maxReplyDelayMs: 0,
    });
    cameras.add({ id: 'gate', baseUrl: sim.url, username: 'admin', password: 'cam-pass-Secret9', model: 'WV-V2530L1' }, logger, true);
    try {
      const start = c.received.length;
      await c.send(nvtProbe(`uuid:${randomUUID()}`), extra.port);
      await c.send(nvtProbe(`uuid:${randomUUID()}`), bound.port);
      await until(() => c.received.length - start >= 6);
      await settle();
      const xaddrs = c.received.slice(start).flatMap(readMatches).map((m) => m.xaddrs).sort();
      assert.deepEqual(xaddrs, [
        `http://127.0.0.9:${HTTP_PORT}/onvif/cam1/device_service`,
        `http://127.0.0.9:${HTTP_PORT}/onvif/gate/device_service`,
        `http://127.0.0.9:${HTTP_PORT}/onvif/lobby/device_service`,
        'https://cams.example.org:8443/onvif/cam1/device_service',
        'https://cams.example.org:8443/onvif/gate/device_service',
        'https://cams.example.org:8443/onvif/lobby/device_service',
      ]);
    } finally {
      await cameras.delete('gate')?.client.close();
      await extra.stop();
      await bound.stop();
    }
  });

  test('after stop nothing answers; disabled discovery opens no socket', async () => {
    const d = await startDiscovery({ cameras: () => cameras.list(), httpPort: HTTP_PORT, logger, port: 0, bindAddress: '127.0.0.1', multicast: false, maxReplyDelayMs: 0 });
    const port = d.port;
    assert.ok(port > 0);
    await d.stop();
    const start = c.received.length;
    await c.send(nvtProbe(`uuid:${randomUUID()}`), port);
    await settle();
    assert.equal(c.received.length, start);

    const off = await startDiscovery({ cameras: () => cameras.list(), httpPort: HTTP_PORT, logger, enabled: false });
    assert.equal(off.port, 0);
    await off.stop();
  });
});

describe('WS-Discovery configuration', () => {
  test('on by default; off with CAMGATE_DISCOVERY=0 or onvif.discovery: false; a non-boolean is refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'camgate-discovery-'));
    try {
      const file = (text: string) => {
        const f = join(dir, `${randomUUID()}.yaml`);
        writeFileSync(f, text);
        return f;
      };
      assert.equal(loadConfig([], {}).discovery, true);
      assert.equal(loadConfig([], { CAMGATE_DISCOVERY: '0' }).discovery, false);
      assert.equal(loadConfig([], { CAMGATE_DISCOVERY: 'off' }).discovery, false);
      assert.equal(loadConfig([], { CAMGATE_DISCOVERY: '1' }).discovery, true);
      assert.equal(loadConfig(['--config', file('onvif: { discovery: false }\n')], {}).discovery, false);
      assert.equal(loadConfig(['--config', file('onvif: { discovery: false }\n')], { CAMGATE_DISCOVERY: '1' }).discovery, true);
      assert.throws(() => loadConfig(['--config', file('onvif: { discovery: "no" }\n')], {}), ConfigError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('WS-Discovery and the device service', () => {
  test('NonDiscoverable cameras do not answer; added scopes are matched and raise MetadataVersion', async () => {
    const stack = await startStack();
    const d = await startDiscovery({ cameras: () => stack.cameras.list(), httpPort: HTTP_PORT, logger, port: 0, bindAddress: '127.0.0.1', multicast: false, maxReplyDelayMs: 0 });
    const c = await client();
    const device = (name: string, inner: string) => soapCall(stack.app, op('tds', NS.tds, name, inner), { user: USERS.admin });
    const probe = async (scopes = ''): Promise<Match[]> => {
      const start = c.received.length;
      await c.send(probeXml(`uuid:${randomUUID()}`, `<d:Probe xmlns:d="${WSD.discovery}"><d:Scopes>${scopes}</d:Scopes></d:Probe>`), d.port);
      await settle();
      await settle();
      return c.received.slice(start).flatMap(readMatches);
    };
    try {
      const before = await probe();
      assert.equal(before.length, 1);
      const version = Number(before[0]!.metadataVersion);
      assert.equal((await probe('onvif://www.onvif.org/location/lobby-east')).length, 0);

      assert.equal((await device('AddScopes', '<tds:ScopeItem>onvif://www.onvif.org/location/lobby-east</tds:ScopeItem>')).status, 200);
      const added = await probe('onvif://www.onvif.org/location/lobby-east');
      assert.equal(added.length, 1);
      assert.ok(Number(added[0]!.metadataVersion) > version, 'MetadataVersion grows with a scope change');

      assert.equal((await device('SetDiscoveryMode', '<tds:DiscoveryMode>NonDiscoverable</tds:DiscoveryMode>')).status, 200);
      assert.equal((await probe()).length, 0);
      assert.equal((await device('SetDiscoveryMode', '<tds:DiscoveryMode>Discoverable</tds:DiscoveryMode>')).status, 200);
      assert.equal((await probe()).length, 1);
    } finally {
      await device('RemoveScopes', '<tds:ScopeItem>onvif://www.onvif.org/location/lobby-east</tds:ScopeItem>');
      await device('SetDiscoveryMode', '<tds:DiscoveryMode>Discoverable</tds:DiscoveryMode>');
      c.socket.close();
      await d.stop();
      await stack.close();
    }
  });
});
