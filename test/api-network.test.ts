// Behaviour of the Network (§4.7), Storage (§6) and Record (§4.11.1-4.11.4) chapters through
// buildApp against the simulator over HTTP, answers validated against the document: one field
// makes one key, secrets go to the camera but never come back, addressing needs admin, bad
// input reaches no camera, and the vendor's odd example values type cleanly.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { basic, startStack, USERS, type Stack } from './stack.ts';

let stack: Stack;
const admin = basic(USERS.admin);
const operator = basic(USERS.operator);
const viewer = basic(USERS.viewer);

before(async () => {
  stack = await startStack();
});
after(async () => {
  await stack.close();
});

const url = (path: string) => `${stack.spec.basePath}/cameras/cam1${path}`;
const get = (path: string, auth = admin) => request(stack.app).get(url(path)).set('Authorization', auth);
const patch = (path: string, body: object, auth = admin) => request(stack.app).patch(url(path)).set('Authorization', auth).send(body);

/** The setConfig requests the camera received since the last resetStats, as key=value lists. */
function writes(): string[][] {
  return stack.sim.requestLog
    .filter((r) => r.authorized && r.rawUrl.includes('action=setConfig'))
    .map((r) => r.rawUrl.split('?')[1]!.split('&').filter((p) => !p.startsWith('action=')));
}

/** Every key anywhere in a JSON value. */
function keysOf(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) keysOf(v, out);
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      out.push(k);
      keysOf(v, out);
    }
  }
  return out;
}

describe('Network: one field, one key', () => {
  it('a PATCH of one NTP field sends exactly that key and reads it back', async () => {
    stack.sim.resetStats();
    const res = await patch('/network/ntp', { NTP: { Enable: true } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(writes(), [['NTP.Enable=true']]);
    assert.equal(res.body.NTP.Enable, true);
    assert.equal(typeof res.body.NTP.Port, 'number');
    assert.deepEqual(res.body.ignoredFields, []);
    assert.equal(stack.sim.getConfigValue('table.NTP.Enable'), 'true');
  });

  it('addresses an interface by name and a DNS server by position', async () => {
    stack.sim.resetStats();
    const res = await patch('/network/basic', { Network: { eth0: { DnsServers: [null, '8.8.4.4'] } } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(writes(), [['Network.eth0.DnsServers[1]=8.8.4.4']]);
    assert.deepEqual(res.body.Network.eth0.DnsServers, ['221.123.33.228', '8.8.4.4']);
    assert.equal(res.body.Network.eth0.MTU, 1500);
    assert.equal(res.body.Network.eth0.DhcpEnable, false);
  });

  it('reads the interfaces and the UPnP state typed', async () => {
    const ifs = await get('/network/interfaces', viewer);
    assert.equal(ifs.status, 200, ifs.text);
    assert.deepEqual(ifs.body, { netInterface: [{ Name: 'eth0', Type: 'Normal', Valid: true }] });
    const upnp = await get('/network/upnp-status', viewer);
    assert.equal(upnp.status, 200, upnp.text);
    assert.equal(upnp.body.Working, false);
    assert.deepEqual(upnp.body.PortMapStatus, ['Failed', 'Failed', 'Failed', 'Failed']);
  });

  it('keeps the DDNS protocol exactly as the camera sends it (" Quick DDNS")', async () => {
    const res = await get('/network/ddns');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.DDNS[0].Protocol, ' Quick DDNS');
    assert.equal(res.body.DDNS[0].KeepAlive, 10);
    assert.equal(res.body.DDNS[1].Protocol, 'NO-IP DDNS');
  });
});

describe('Network: addressing needs admin, bad input reaches no camera', () => {
  it('refuses a Network or PPPoE PATCH from an operator with 403 and no camera request', async () => {
    for (const [path, body] of [
      ['/network/basic', { Network: { Hostname: 'lobby-cam' } }],
      ['/network/pppoe', { PPPoE: { Enable: true } }],
    ] as const) {
      stack.sim.resetStats();
      const res = await patch(path, body, operator);
      assert.equal(res.status, 403, `${path}: ${res.text}`);
      assert.equal(res.body.code, 'FORBIDDEN');
      assert.equal(stack.sim.stats.requests, 0, path);
    }
    const read = await get('/network/basic', viewer);
    assert.equal(read.status, 200, 'a viewer still reads the Network table');
    const other = await patch('/network/ntp', { NTP: { UpdatePeriod: 60 } }, operator);
    assert.equal(other.status, 200, 'an operator changes NTP');
  });

  it('refuses a bad IPv4 address, network mask or interface name with 400 and zero camera requests', async () => {
    for (const [body, pointer] of [
      [{ Network: { eth0: { IPAddress: '10.7.2.300' } } }, '/Network/eth0/IPAddress'],
      [{ Network: { eth0: { IPAddress: '10.7.2' } } }, '/Network/eth0/IPAddress'],
      [{ Network: { eth0: { DefaultGateway: '10.7.0.1 ' } } }, '/Network/eth0/DefaultGateway'],
      [{ Network: { eth0: { SubnetMask: '255.0.255.0' } } }, '/Network/eth0/SubnetMask'],
      [{ Network: { eth0: { DnsServers: ['8.8.8.8', '8.8.8.8.8'] } } }, '/Network/eth0/DnsServers/1'],
      [{ Network: { eth0: { PhysicalAddress: '00:10:5c:f2:1c:b5' } } }, '/Network/eth0/PhysicalAddress'],
      [{ Network: { 'eth0.IPAddress': '10.7.2.4' } }, '/Network'],
    ] as const) {
      stack.sim.resetStats();
      const res = await patch('/network/basic', body);
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.status}`);
      assert.equal(res.body.code, 'VALIDATION_FAILED');
      assert.ok(
        res.body.errors.some((e: { pointer: string }) => e.pointer.startsWith(pointer)),
        `${JSON.stringify(res.body.errors)} should point at ${pointer}`,
      );
      assert.equal(stack.sim.stats.requests, 0, JSON.stringify(body));
    }
    assert.equal(stack.sim.getConfigValue('table.Network.eth0.IPAddress'), '10.7.2.3');
  });
});

describe('Network: passwords are written, never answered', () => {
  const tables = [
    { path: '/network/pppoe', table: 'PPPoE', keys: ['table.PPPoE.Password'], write: (p: string) => ({ PPPoE: { Password: p } }), param: 'PPPoE.Password' },
    { path: '/network/ddns', table: 'DDNS', keys: ['table.DDNS[0].Password', 'table.DDNS[1].Password'], write: (p: string) => ({ DDNS: [null, { Password: p }] }), param: 'DDNS[1].Password' },
    { path: '/network/email', table: 'Email', keys: ['table.Email.Password'], write: (p: string) => ({ Email: { Password: p } }), param: 'Email.Password' },
    { path: '/network/alarm-server', table: 'AlarmServer', keys: ['table.AlarmServer.Password'], write: (p: string) => ({ AlarmServer: { Password: p } }), param: 'AlarmServer.Password' },
  ];

  it('reads the seeded tables without any password', async () => {
    // The seed's Email password (123456) appears nowhere else in the table; PPPoE's equals its
    // user name and DDNS's ("none") equals other fields, so those are checked by planting below.
    const email = await get('/network/email');
    assert.equal(email.status, 200, email.text);
    assert.equal(stack.sim.getConfigValue('table.Email.Password'), '123456');
    assert.ok(!email.text.includes('123456'), email.text);
    for (const t of tables) {
      const res = await get(t.path, viewer);
      assert.equal(res.status, 200, `${t.path}: ${res.text}`);
      assert.ok(res.body[t.table] !== undefined);
      assert.deepEqual(keysOf(res.body).filter((k) => /passw/i.test(k)), [], t.path);
    }
  });

  it('never answers a password the camera holds', async () => {
    for (const t of tables) {
      const secret = `Planted-${t.table}-Secret7`;
      for (const key of t.keys) stack.sim.setConfigValue(key, secret);
      const res = await get(t.path);
      assert.equal(res.status, 200, `${t.path}: ${res.text}`);
      assert.ok(!res.text.includes(secret), `${t.path} answered the password: ${res.text}`);
      assert.ok(!res.text.includes('Planted-'), t.path);
    }
  });

  it('sends a new password to the camera with one key, and does not echo it', async () => {
    for (const t of tables) {
      const secret = `n3w-${t.table}-pass_word`;
      stack.sim.resetStats();
      const res = await patch(t.path, t.write(secret));
      assert.equal(res.status, 200, `${t.path}: ${res.text}`);
      assert.deepEqual(writes(), [[`${t.param}=${secret}`]], t.path);
      assert.equal(stack.sim.getConfigValue(`table.${t.param}`), secret, `${t.path}: the camera holds the new password`);
      assert.ok(!res.text.includes(secret), `${t.path} echoed the password: ${res.text}`);
      assert.deepEqual(keysOf(res.body).filter((k) => /passw/i.test(k)), [], t.path);
      assert.deepEqual(res.body.ignoredFields, [], t.path);
    }
    assert.ok(!stack.logs.join('').includes('pass_word'), 'a password reached the log');
  });

  it('refuses a password with & before the camera, without repeating it', async () => {
    stack.sim.resetStats();
    const res = await patch('/network/email', { Email: { Password: 'abc&Secret-x' } });
    assert.equal(res.status, 400, res.text);
    assert.equal(res.body.errors[0].pointer, '/Email/Password');
    assert.ok(!res.text.includes('abc&Secret-x'));
    assert.equal(stack.sim.stats.requests, 0);
  });
});

describe('Storage', () => {
  it('reads the device names as the camera writes them (typographic quotes kept)', async () => {
    const res = await get('/storage/device-names', viewer);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { list: ['“/dev/sda0”', '“/dev/sda1”', '“/dev/sg1”'] });
  });

  it('types device information and capabilities', async () => {
    const dev = await get('/storage/devices', viewer);
    assert.equal(dev.status, 200, dev.text);
    const [first] = dev.body.list;
    assert.equal(first.State, 'Success');
    assert.equal(first.Pointer, 22347602);
    assert.deepEqual(first.Detail[0], { IsError: false, Pointer: 27023434, TotalBytes: 0, Type: 'ReadWrite', UsedBytes: 0 });
    const caps = await get('/storage/caps', viewer);
    assert.equal(caps.status, 200, caps.text);
    assert.deepEqual(caps.body, { RedundantDisk: { Support: false }, SupportRemoteLimit: true });
  });

  it("reads a channel's record storage point typed, quotes kept, and writes one directory", async () => {
    const res = await get('/storage/record-storage-point?channel=1');
    assert.equal(res.status, 200, res.text);
    const timing = res.body.RecordStoragePoint.TimingRecord;
    assert.deepEqual(timing, { Local: '“local”', Redundant: '“ Redundant”', Remote: '“ FTP”', AutoSync: false, AutoSyncRange: 0, LocalForEmergency: false, CompressBefore: 15 });
    assert.equal(Object.keys(res.body.RecordStoragePoint).length, 8);
    stack.sim.resetStats();
    const put = await patch('/storage/record-storage-point', { RecordStoragePoint: { AlarmRecord: { CompressBefore: 30 } } });
    assert.equal(put.status, 200, put.text);
    assert.deepEqual(writes(), [['RecordStoragePoint[0].AlarmRecord.CompressBefore=30']]);
    assert.equal(put.body.RecordStoragePoint.AlarmRecord.CompressBefore, 30);
    const missing = await get('/storage/record-storage-point?channel=2');
    assert.equal(missing.status, 404, missing.text);
  });

  it('reads a storage group memo with & but refuses to write one', async () => {
    const res = await get('/storage/groups');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.StorageGroup[0].Memo, 'For Reading & Writing Files');
    assert.equal(res.body.StorageGroup[0].OverWrite, true);
    assert.equal(res.body.StorageGroup[1].Channels[0].MaxPictures, 0);
    assert.equal(res.body.StorageGroup[1].RecordPathRule, '%y-%M-%d/%c/dav/%h/%h.%m.%s-%h.%m.%s[%E][%O@%S][%R].dav');
    stack.sim.resetStats();
    const bad = await patch('/storage/groups', { StorageGroup: [{ Memo: 'For Reading & Writing Files' }] });
    assert.equal(bad.status, 400, bad.text);
    assert.equal(bad.body.errors[0].pointer, '/StorageGroup/0/Memo');
    assert.equal(stack.sim.stats.requests, 0);
    const rule = await patch('/storage/groups', { StorageGroup: [{ RecordPathRule: '%y/%c.dav' }] });
    assert.equal(rule.status, 400, 'the path rules are read only');
    const ok = await patch('/storage/groups', { StorageGroup: [null, { Memo: 'FTP files' }] });
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(writes(), [['StorageGroup[1].Memo=FTP%20files']]);
    assert.equal(ok.body.StorageGroup[1].Memo, 'FTP files');
    assert.equal(ok.body.StorageGroup[0].Memo, 'For Reading & Writing Files');
  });
});

describe('Record', () => {
  it('types the recording capabilities', async () => {
    const res = await get('/record/caps', viewer);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.PacketLengthRange, [1, 60]);
    assert.deepEqual(res.body.PacketSizeRange, [131072, 2097152]);
    assert.deepEqual(res.body.SupportPacketType, ['Time', 'Size']);
    assert.equal(res.body.MaxPreRecordTime, 30);
    assert.equal(res.body.SupportHoliday, true);
  });

  it("reads a channel's weekly schedule: seven days of time sections", async () => {
    const res = await get('/record/schedule?channel=1', viewer);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.Record.PreRecord, 6);
    assert.equal(res.body.Record.TimeSection.length, 7);
    for (const day of res.body.Record.TimeSection) {
      assert.equal(day.length, 6);
      assert.equal(day[0], '1 00:00:00-24:00:00');
    }
    const missing = await get('/record/schedule?channel=2', viewer);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.code, 'NOT_FOUND');
  });

  it('changes one time section of one day with one key', async () => {
    stack.sim.resetStats();
    const res = await patch('/record/schedule', { Record: { TimeSection: [null, [null, '6 00:00:00-23:59:59']] } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(writes(), [['Record[0].TimeSection[1][1]=6%2000%3A00%3A00-23%3A59%3A59']]);
    assert.equal(stack.sim.getConfigValue('table.Record[0].TimeSection[1][1]'), '6 00:00:00-23:59:59');
    assert.equal(res.body.Record.TimeSection[1][1], '6 00:00:00-23:59:59');
    assert.equal(res.body.Record.TimeSection[1][0], '1 00:00:00-24:00:00');
    assert.deepEqual(res.body.ignoredFields, []);
  });

  it('refuses a malformed time section with 400 and zero camera requests', async () => {
    for (const bad of ['1 25:00:00-24:00:00', '1 24:00:00-24:00:00', '65536 00:00:00-24:00:00', '1 00:00:00-24:00:01', '1 0:00:00-24:00:00', '1 00:00-24:00']) {
      stack.sim.resetStats();
      const res = await patch('/record/schedule', { Record: { TimeSection: [[bad]] } });
      assert.equal(res.status, 400, bad);
      assert.ok(res.body.errors.some((e: { pointer: string }) => e.pointer.startsWith('/Record/TimeSection/0/0')), JSON.stringify(res.body.errors));
      assert.equal(stack.sim.stats.requests, 0, bad);
    }
  });

  it('reads and writes the record mode of a channel and the media-global snapshot format', async () => {
    const mode = await get('/record/mode?channel=1', viewer);
    assert.deepEqual(mode.body, { RecordMode: { Mode: 0 } });
    stack.sim.resetStats();
    const set = await patch('/record/mode?channel=1', { RecordMode: { Mode: 2 } });
    assert.equal(set.status, 200, set.text);
    assert.deepEqual(writes(), [['RecordMode[0].Mode=2']]);
    assert.deepEqual(set.body, { RecordMode: { Mode: 2 }, ignoredFields: [] });
    const badMode = await patch('/record/mode', { RecordMode: { Mode: 3 } });
    assert.equal(badMode.status, 400);
    const media = await get('/record/media-global', viewer);
    assert.deepEqual(media.body, { MediaGlobal: { SnapFormatAs: 'MainFormat' } });
  });
});
