// ONVIF events over the camera's one shared attach: pull points (create, hold, abort, renew,
// unsubscribe, reap, synchronisation point, topic filters), Basic Notification to a local consumer,
// refused consumer addresses, and 20 subscriptions on one upstream attach.
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { hubDefaults, hubFor } from '../adapters/events/hub.ts';
import { eventServiceState, eventSettings, forbiddenAddress } from '../adapters/onvif/events.ts';
import { NS } from '../adapters/onvif/soap.ts';
import { child, children, parseXml, type XmlNode } from '../adapters/onvif/xml.ts';
import { onvifOf } from '../gateway/app.ts';
import { changeCamera } from '../gateway/fleet.ts';
import { envelope, op, readAnswer, type SoapAnswer } from './onvif-client.ts';
import { startStack, USERS, type Stack } from './stack.ts';

hubDefaults.keepaliveSeconds = 2;
hubDefaults.backoffMinMs = 100;
hubDefaults.backoffMaxMs = 1_000;
eventSettings.notifyRetryMs = 50;
eventSettings.reapIntervalMs = 200;

let stack: Stack;
let server: Server;
let origin: string;

type User = { name: string; password: string } | null;

async function call(body: string, path = 'events_service', user: User = USERS.viewer, header?: string): Promise<SoapAnswer> {
  const res = await request(`${origin}/onvif/cam1/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/soap+xml; charset=utf-8' },
    body: envelope(body, { ...(user !== null ? { user } : {}), ...(header ? { header } : {}) }),
  });
  return readAnswer(res.statusCode, res.headers, await res.body.text());
}

const tev = (name: string, inner = ''): string => op('tev', NS.tev, name, inner);
const wsnt = (name: string, inner = ''): string => op('wsnt', NS.wsnt, name, inner);

interface Msg { topic: string; op: string; utc: string; source: Record<string, string>; data: Record<string, string> }

function items(list: XmlNode | undefined): Record<string, string> {
  return Object.fromEntries(children(list, 'SimpleItem', NS.tt).map((i) => [i.attrs.get('Name')!, i.attrs.get('Value')!]));
}

function messagesOf(body: XmlNode): Msg[] {
  return children(body, 'NotificationMessage', NS.wsnt).map((n) => {
    const m = child(child(n, 'Message', NS.wsnt), 'Message', NS.tt)!;
    return {
      topic: child(n, 'Topic', NS.wsnt)!.text,
      op: m.attrs.get('PropertyOperation')!,
      utc: m.attrs.get('UtcTime')!,
      source: items(child(m, 'Source', NS.tt)),
      data: items(child(m, 'Data', NS.tt)),
    };
  });
}

async function createPull(inner = '<tev:InitialTerminationTime>PT60S</tev:InitialTerminationTime>'): Promise<{ path: string; answer: SoapAnswer }> {
  const answer = await call(tev('CreatePullPointSubscription', inner));
  assert.equal(answer.status, 200, answer.text);
  const address = child(child(answer.body, 'SubscriptionReference', NS.tev), 'Address', NS.wsa)!.text;
  const m = new RegExp(`^${origin}/onvif/cam1/(subscription/[0-9a-f]{32})$`).exec(address);
  assert.ok(m, `subscription address ${address}`);
  return { path: m[1]!, answer };
}

async function pull(path: string, timeout = 'PT5S', limit = 100): Promise<{ answer: SoapAnswer; messages: Msg[]; ms: number }> {
  const t0 = Date.now();
  const answer = await call(tev('PullMessages', `<tev:Timeout>${timeout}</tev:Timeout><tev:MessageLimit>${limit}</tev:MessageLimit>`), path);
  const ms = Date.now() - t0;
  assert.equal(answer.status, 200, answer.text);
  return { answer, messages: messagesOf(answer.body), ms };
}

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

before(async () => {
  stack = await startStack();
  server = stack.app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await stack.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('ONVIF events: properties and capabilities', () => {
  it('GetServiceCapabilities answers without credentials', async () => {
    const a = await call(tev('GetServiceCapabilities'), 'events_service', null);
    assert.equal(a.status, 200, a.text);
    const caps = child(a.body, 'Capabilities', NS.tev)!;
    assert.equal(caps.attrs.get('MaxPullPoints'), String(eventSettings.maxPullPoints));
  });

  it('GetEventProperties lists the topics with message descriptions, in XSD order', async () => {
    const a = await call(tev('GetEventProperties'));
    assert.equal(a.status, 200, a.text);
    assert.deepEqual(a.body.children.map((c) => c.local), [
      'TopicNamespaceLocation', 'FixedTopicSet', 'TopicSet', 'TopicExpressionDialect', 'TopicExpressionDialect', 'TopicExpressionDialect',
      'MessageContentFilterDialect', 'MessageContentSchemaLocation',
    ]);
    const set = child(a.body, 'TopicSet', NS.wstop)!;
    const motion = child(child(set, 'VideoSource', NS.tns1), 'MotionAlarm', NS.tns1)!;
    assert.equal(motion.attrs.get(`{${NS.wstop}}topic`), 'true');
    const desc = child(motion, 'MessageDescription', NS.tt)!;
    assert.equal(desc.attrs.get('IsProperty'), 'true');
    assert.equal(child(child(desc, 'Source', NS.tt), 'SimpleItemDescription', NS.tt)!.attrs.get('Type'), 'tt:ReferenceToken');
    assert.equal(child(child(desc, 'Data', NS.tt), 'SimpleItemDescription', NS.tt)!.attrs.get('Name'), 'State');
    const cell = child(child(child(set, 'RuleEngine', NS.tns1), 'CellMotionDetector', NS.tns1), 'Motion', NS.tns1)!;
    assert.deepEqual(children(child(child(cell, 'MessageDescription', NS.tt), 'Source', NS.tt), 'SimpleItemDescription', NS.tt).map((d) => d.attrs.get('Name')),
      ['VideoSourceConfigurationToken', 'VideoAnalyticsConfigurationToken', 'Rule']);
    assert.ok(child(child(child(set, 'Device', NS.tns1), 'Trigger', NS.tns1), 'DigitalInput', NS.tns1));
    assert.deepEqual(children(a.body, 'TopicExpressionDialect', NS.wsnt).map((d) => d.text).slice(0, 2),
      ['http://docs.oasis-open.org/wsn/t-1/TopicExpression/Concrete', 'http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet']);
  });

  it('subscribing needs credentials', async () => {
    const a = await call(tev('CreatePullPointSubscription'), 'events_service', null);
    assert.equal(a.status, 401);
    assert.deepEqual(a.subcodes, ['ter:NotAuthorized']);
  });
});

describe('ONVIF events: pull points', () => {
  it('a new pull point starts with the camera state as Initialized messages, then gets MotionAlarm within 2 s', async () => {
    const { path, answer } = await createPull();
    const current = child(answer.body, 'CurrentTime', NS.wsnt)!.text;
    const termination = child(answer.body, 'TerminationTime', NS.wsnt)!.text;
    assert.match(current, /Z$/);
    assert.match(termination, /Z$/);
    assert.ok(Math.abs(Date.parse(termination) - Date.parse(current) - 60_000) <= 1000, `${current} → ${termination}`);

    const first = await pull(path);
    assert.ok(first.messages.length > 0, 'Initialized state arrives');
    assert.ok(first.messages.every((m) => m.op === 'Initialized'));
    const motion = first.messages.find((m) => m.topic === 'tns1:VideoSource/MotionAlarm')!;
    assert.deepEqual(motion.source, { Source: 'VideoSource_1' });
    assert.deepEqual(motion.data, { State: 'false' });
    // The simulator's alarm inputs 0, 2 and 3 are active (getEventIndexes), input 1 is not.
    const inputs = Object.fromEntries(first.messages.filter((m) => m.topic === 'tns1:Device/Trigger/DigitalInput').map((m) => [m.source.InputToken, m.data.LogicalState]));
    assert.deepEqual(inputs, { DigitalInput1: 'true', DigitalInput2: 'false', DigitalInput3: 'true', DigitalInput4: 'true' });

    const t0 = Date.now();
    const held = pull(path, 'PT10S');
    await new Promise((r) => setTimeout(r, 100));
    stack.sim.raiseEvent('VideoMotion', 'Start', 0);
    const got = await held;
    const latency = Date.now() - t0 - 100;
    assert.ok(latency < 2000, `latency ${latency} ms`);
    const alarm = got.messages.find((m) => m.topic === 'tns1:VideoSource/MotionAlarm');
    assert.ok(alarm, JSON.stringify(got.messages));
    assert.equal(alarm.op, 'Changed');
    assert.deepEqual(alarm.data, { State: 'true' });
    assert.match(alarm.utc, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    const cell = got.messages.find((m) => m.topic === 'tns1:RuleEngine/CellMotionDetector/Motion')!;
    assert.deepEqual(cell.data, { IsMotion: 'true' });
    assert.equal(cell.source.VideoSourceConfigurationToken, 'VideoSource_1'.replace('VideoSource_', 'VideoSourceConfig_'));
    const topic = child(children(got.answer.body, 'NotificationMessage', NS.wsnt)[0], 'Topic', NS.wsnt)!;
    assert.equal(topic.attrs.get('Dialect'), 'http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet');
    stack.sim.raiseEvent('VideoMotion', 'Stop', 0);
    const stop = await pull(path, 'PT5S');
    assert.deepEqual(stop.messages.find((m) => m.topic === 'tns1:VideoSource/MotionAlarm')?.data, { State: 'false' });
    await call(wsnt('Unsubscribe'), path);
  });

  it('a pull with no event waits for its Timeout and answers empty', async () => {
    const { path } = await createPull();
    await pull(path);   // the Initialized state
    const r = await pull(path, 'PT1S');
    assert.equal(r.messages.length, 0);
    assert.ok(r.ms >= 900 && r.ms < 3000, `held ${r.ms} ms`);
    assert.deepEqual(r.answer.body.children.map((c) => c.local), ['CurrentTime', 'TerminationTime']);
    assert.match(child(r.answer.body, 'TerminationTime', NS.tev)!.text, /Z$/);
    await call(wsnt('Unsubscribe'), path);
  });

  it('MessageLimit bounds one answer; the rest waits for the next pull', async () => {
    const { path } = await createPull();
    const r = await pull(path, 'PT5S', 2);
    assert.equal(r.messages.length, 2);
    const rest = await pull(path, 'PT1S');
    assert.ok(rest.messages.length > 0 && rest.messages.every((m) => m.op === 'Initialized'));
    await call(wsnt('Unsubscribe'), path);
  });

  it('a client that leaves ends its pull; the subscription stays usable', async () => {
    const { path } = await createPull();
    await pull(path);
    const before = eventServiceState().pendingPulls;
    const body = envelope(tev('PullMessages', '<tev:Timeout>PT30S</tev:Timeout><tev:MessageLimit>10</tev:MessageLimit>'), { user: USERS.viewer });
    const req = httpRequest(`${origin}/onvif/cam1/${path}`, { method: 'POST', headers: { 'content-type': 'application/soap+xml' } });
    req.on('error', () => undefined);
    req.end(body);
    await waitFor(() => eventServiceState().pendingPulls === before + 1, 2000, 'the pull to be held');
    req.destroy();
    const t0 = Date.now();
    await waitFor(() => eventServiceState().pendingPulls === before, 2000, 'the pull to end');
    assert.ok(Date.now() - t0 < 1000);
    const again = pull(path, 'PT5S');
    await new Promise((r) => setTimeout(r, 100));
    stack.sim.raiseEvent('VideoLoss', 'Start', 0);
    const got = await again;
    assert.deepEqual(got.messages.find((m) => m.topic === 'tns1:VideoSource/SignalLoss')?.data, { State: 'true' });
    stack.sim.raiseEvent('VideoLoss', 'Stop', 0);
    await call(wsnt('Unsubscribe'), path);
  });

  it('a newer pull on the same subscription answers the older one empty', async () => {
    const { path } = await createPull();
    await pull(path);
    const older = pull(path, 'PT20S');
    await waitFor(() => eventServiceState().pendingPulls === 1, 2000, 'the first pull to be held');
    const newer = pull(path, 'PT5S');
    const first = await older;
    assert.equal(first.messages.length, 0);
    assert.ok(first.ms < 3000, `the older pull ended after ${first.ms} ms`);
    stack.sim.raiseEvent('VideoLoss', 'Start', 0);
    assert.ok((await newer).messages.some((m) => m.topic === 'tns1:VideoSource/SignalLoss'));
    stack.sim.raiseEvent('VideoLoss', 'Stop', 0);
    await call(wsnt('Unsubscribe'), path);
  });

  it('Renew moves TerminationTime; Unsubscribe makes later pulls fault', async () => {
    const { path, answer } = await createPull('<tev:InitialTerminationTime>PT30S</tev:InitialTerminationTime>');
    const original = Date.parse(child(answer.body, 'TerminationTime', NS.wsnt)!.text);
    const renewed = await call(wsnt('Renew', '<wsnt:TerminationTime>PT300S</wsnt:TerminationTime>'), path);
    assert.equal(renewed.status, 200, renewed.text);
    assert.deepEqual(renewed.body.children.map((c) => c.local), ['TerminationTime', 'CurrentTime']);
    const term = Date.parse(child(renewed.body, 'TerminationTime', NS.wsnt)!.text);
    const now = Date.parse(child(renewed.body, 'CurrentTime', NS.wsnt)!.text);
    assert.ok(term > original + 200_000, 'later than before');
    assert.ok(Math.abs(term - now - 300_000) <= 1000);
    const past = await call(wsnt('Renew', '<wsnt:TerminationTime>2001-01-01T00:00:00Z</wsnt:TerminationTime>'), path);
    assert.equal(past.status, 400);
    assert.deepEqual(past.subcodes, ['ter:InvalidArgVal', 'wsnt:UnacceptableTerminationTimeFault']);

    const gone = await call(wsnt('Unsubscribe'), path);
    assert.equal(gone.status, 200, gone.text);
    assert.equal(gone.body.local, 'UnsubscribeResponse');
    const after = await call(tev('PullMessages', '<tev:Timeout>PT1S</tev:Timeout><tev:MessageLimit>1</tev:MessageLimit>'), path);
    assert.equal(after.status, 400);
    assert.deepEqual(after.subcodes, ['ter:InvalidArgVal']);
    const unknown = await call(tev('PullMessages', '<tev:Timeout>PT1S</tev:Timeout><tev:MessageLimit>1</tev:MessageLimit>'), 'subscription/00000000000000000000000000000000');
    assert.equal(unknown.status, 400);
  });

  it('the subscription may be named by WS-Addressing To on the events service path', async () => {
    const { path } = await createPull();
    const a = await call(wsnt('Renew', '<wsnt:TerminationTime>PT90S</wsnt:TerminationTime>'), 'events_service', USERS.viewer,
      `<wsa:To xmlns:wsa="${NS.wsa}">${origin}/onvif/cam1/${path}</wsa:To>`);
    assert.equal(a.status, 200, a.text);
    await call(wsnt('Unsubscribe'), path);
  });

  it('a request with WS-Addressing gets the reply Action and RelatesTo, faults the fault Action', async () => {
    const wsa = (action: string, id: string): string =>
      `<wsa:Action xmlns:wsa="${NS.wsa}">${action}</wsa:Action><wsa:MessageID xmlns:wsa="${NS.wsa}">${id}</wsa:MessageID>`;
    const headerOf = (a: SoapAnswer): XmlNode => parseXml(a.text).children.find((c) => c.local === 'Header')!;
    const created = await call(tev('CreatePullPointSubscription'), 'events_service', USERS.viewer,
      wsa('http://www.onvif.org/ver10/events/wsdl/EventPortType/CreatePullPointSubscriptionRequest', 'urn:uuid:11111111-2222-3333-4444-555555555555'));
    assert.equal(created.status, 200, created.text);
    assert.equal(child(headerOf(created), 'Action', NS.wsa)?.text, 'http://www.onvif.org/ver10/events/wsdl/EventPortType/CreatePullPointSubscriptionResponse');
    assert.equal(child(headerOf(created), 'RelatesTo', NS.wsa)?.text, 'urn:uuid:11111111-2222-3333-4444-555555555555');
    const fault = await call(wsnt('Unsubscribe'), 'subscription/ffffffffffffffffffffffffffffffff', USERS.viewer,
      wsa('http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/UnsubscribeRequest', 'urn:uuid:6'));
    assert.equal(fault.status, 400);
    assert.equal(child(headerOf(fault), 'Action', NS.wsa)?.text, 'http://www.w3.org/2005/08/addressing/soap/fault');
    const plain = await call(tev('GetServiceCapabilities'));
    assert.equal(parseXml(plain.text).children.find((c) => c.local === 'Header'), undefined, 'no WS-Addressing, no Header');
    const address = child(child(created.body, 'SubscriptionReference', NS.tev), 'Address', NS.wsa)!.text;
    await call(wsnt('Unsubscribe'), address.slice(`${origin}/onvif/cam1/`.length));
  });

  it('a subscription past its termination time is reaped', async () => {
    const { path } = await createPull('<tev:InitialTerminationTime>PT1S</tev:InitialTerminationTime>');
    const count = eventServiceState().pullPoints;
    await waitFor(() => eventServiceState().pullPoints === count - 1, 3000, 'the reaper');
    const a = await call(tev('PullMessages', '<tev:Timeout>PT1S</tev:Timeout><tev:MessageLimit>1</tev:MessageLimit>'), path);
    assert.equal(a.status, 400);
  });

  it('SetSynchronizationPoint queues the current state as Initialized messages', async () => {
    const { path } = await createPull();
    await pull(path);
    const held = pull(path, 'PT5S');
    await new Promise((r) => setTimeout(r, 100));
    stack.sim.raiseEvent('VideoBlind', 'Start', 0);
    assert.ok((await held).messages.some((m) => m.topic === 'tns1:VideoSource/GlobalSceneChange/ImagingService' && m.op === 'Changed'));
    const sync = await call(tev('SetSynchronizationPoint'), path);
    assert.equal(sync.status, 200, sync.text);
    const r = await pull(path, 'PT2S');
    assert.ok(r.messages.length > 0 && r.messages.every((m) => m.op === 'Initialized'));
    assert.deepEqual(r.messages.find((m) => m.topic === 'tns1:VideoSource/GlobalSceneChange/ImagingService')?.data, { State: 'true' });
    assert.deepEqual(r.messages.find((m) => m.topic === 'tns1:VideoSource/MotionAlarm')?.data, { State: 'false' });
    stack.sim.raiseEvent('VideoBlind', 'Stop', 0);
    await call(wsnt('Unsubscribe'), path);
  });

  it('a Concrete topic filter selects its topic only; an unknown dialect is a fault', async () => {
    const filter = `<tev:Filter><wsnt:TopicExpression xmlns:wsnt="${NS.wsnt}" xmlns:x="${NS.tns1}" Dialect="http://docs.oasis-open.org/wsn/t-1/TopicExpression/Concrete">x:Device/Trigger/DigitalInput</wsnt:TopicExpression></tev:Filter>`;
    const { path } = await createPull(filter);
    const first = await pull(path);
    assert.deepEqual([...new Set(first.messages.map((m) => m.topic))], ['tns1:Device/Trigger/DigitalInput']);
    const held = pull(path, 'PT2S');
    await new Promise((r) => setTimeout(r, 100));
    stack.sim.raiseEvent('VideoMotion', 'Start', 0);
    stack.sim.raiseEvent('AlarmLocal', 'Stop', 0);
    const got = await held;
    assert.deepEqual(got.messages.map((m) => [m.topic, m.source.InputToken, m.data.LogicalState]), [['tns1:Device/Trigger/DigitalInput', 'DigitalInput1', 'false']]);
    stack.sim.raiseEvent('VideoMotion', 'Stop', 0);
    stack.sim.raiseEvent('AlarmLocal', 'Start', 0);
    await call(wsnt('Unsubscribe'), path);

    const bad = await call(tev('CreatePullPointSubscription', `<tev:Filter><wsnt:TopicExpression xmlns:wsnt="${NS.wsnt}" Dialect="urn:nope">tns1:VideoSource</wsnt:TopicExpression></tev:Filter>`));
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.subcodes, ['ter:InvalidArgVal', 'wsnt:TopicExpressionDialectUnknownFault']);
    const none = await call(tev('CreatePullPointSubscription', `<tev:Filter><wsnt:TopicExpression xmlns:wsnt="${NS.wsnt}" Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">tns1:PTZController/PTZPresets/Invoked</wsnt:TopicExpression></tev:Filter>`));
    assert.deepEqual(none.subcodes, ['ter:InvalidArgVal', 'wsnt:TopicNotSupportedFault']);
  });

  it('pull points are limited per camera; a full queue drops its oldest messages', async () => {
    const max = eventSettings.maxPullPoints;
    const queue = eventSettings.maxQueue;
    eventSettings.maxPullPoints = 2;
    eventSettings.maxQueue = 4;
    try {
      const a = await createPull();
      const b = await createPull();
      const refused = await call(tev('CreatePullPointSubscription'));
      assert.equal(refused.status, 500);
      assert.deepEqual(refused.subcodes, ['ter:Action', 'wsnt:SubscribeCreationFailedFault']);
      await pull(a.path);
      for (let i = 0; i < 5; i++) {
        stack.sim.raiseEvent('VideoLoss', 'Start', 0);
        stack.sim.raiseEvent('VideoLoss', 'Stop', 0);
      }
      await new Promise((r) => setTimeout(r, 300));
      const r = await pull(a.path, 'PT1S');
      assert.equal(r.messages.length, 4);
      // The newest survive: the last one is the final Stop.
      assert.deepEqual(r.messages.at(-1)!.data, { State: 'false' });
      await call(wsnt('Unsubscribe'), a.path);
      await call(wsnt('Unsubscribe'), b.path);
    } finally {
      eventSettings.maxPullPoints = max;
      eventSettings.maxQueue = queue;
    }
  });

  it('20 subscriptions share one upstream attach and all get the event', async () => {
    const paths: string[] = [];
    for (let i = 0; i < 20; i++) paths.push((await createPull()).path);
    await Promise.all(paths.map((p) => pull(p)));
    assert.equal(stack.sim.attachCount(), 1);
    assert.ok(hubFor(stack.cameras.get('cam1')!).subscriberCount >= 20);
    const held = paths.map((p) => pull(p, 'PT10S'));
    await new Promise((r) => setTimeout(r, 200));
    stack.sim.raiseEvent('VideoMotion', 'Start', 0);
    const got = await Promise.all(held);
    for (const g of got) assert.deepEqual(g.messages.find((m) => m.topic === 'tns1:VideoSource/MotionAlarm')?.data, { State: 'true' });
    assert.equal(stack.sim.attachCount(), 1);
    stack.sim.raiseEvent('VideoMotion', 'Stop', 0);
    for (const p of paths) await call(wsnt('Unsubscribe'), p);
  });
});

describe('ONVIF events: Basic Notification', () => {
  let consumer: Server;
  let consumerUrl: string;
  const received: Array<{ path: string; body: XmlNode; contentType: string }> = [];
  let failing = false;

  before(async () => {
    consumer = createServer((req: IncomingMessage, res) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString('utf8')));
      req.on('end', () => {
        if (failing) { res.statusCode = 500; res.end(); return; }
        const root = parseXml(text);
        received.push({ path: req.url ?? '', body: child(child(root, 'Body'), 'Notify', NS.wsnt)!, contentType: String(req.headers['content-type']) });
        res.statusCode = 202;
        res.end();
      });
    });
    consumer.listen(0, '127.0.0.1');
    await new Promise((r) => consumer.once('listening', r));
    consumerUrl = `http://127.0.0.1:${(consumer.address() as AddressInfo).port}`;
  });

  after(async () => {
    consumer.closeAllConnections();
    await new Promise((r) => consumer.close(r));
  });

  const subscribe = (address: string, extra = ''): Promise<SoapAnswer> =>
    call(wsnt('Subscribe', `<wsnt:ConsumerReference><wsa:Address xmlns:wsa="${NS.wsa}">${address}</wsa:Address></wsnt:ConsumerReference>${extra}`));

  it('Notify reaches a local consumer: the state first, then changes', async () => {
    received.length = 0;
    const a = await subscribe(`${consumerUrl}/onvif-events`, '<wsnt:InitialTerminationTime>PT120S</wsnt:InitialTerminationTime>');
    assert.equal(a.status, 200, a.text);
    assert.deepEqual(a.body.children.map((c) => c.local), ['SubscriptionReference', 'CurrentTime', 'TerminationTime']);
    const address = child(child(a.body, 'SubscriptionReference', NS.wsnt), 'Address', NS.wsa)!.text;
    const path = address.slice(`${origin}/onvif/cam1/`.length);
    await waitFor(() => received.length > 0, 5000, 'the first Notify');
    assert.equal(received[0]!.path, '/onvif-events');
    assert.match(received[0]!.contentType, /^application\/soap\+xml/);
    const initial = messagesOf(received[0]!.body);
    assert.ok(initial.some((m) => m.topic === 'tns1:VideoSource/MotionAlarm' && m.op === 'Initialized'));
    assert.ok(initial.some((m) => m.topic === 'tns1:Device/Trigger/DigitalInput' && m.op === 'Initialized'), 'the whole state in one Notify');
    const sizeBefore = received.length;
    stack.sim.raiseEvent('VideoMotion', 'Start', 0);
    await waitFor(() => received.length > sizeBefore, 2000, 'the Notify of a change');
    const changed = received.slice(sizeBefore).flatMap((r) => messagesOf(r.body));
    assert.deepEqual(changed.find((m) => m.topic === 'tns1:VideoSource/MotionAlarm')?.data, { State: 'true' });
    stack.sim.raiseEvent('VideoMotion', 'Stop', 0);
    const renew = await call(wsnt('Renew', '<wsnt:TerminationTime>PT600S</wsnt:TerminationTime>'), path);
    assert.equal(renew.status, 200, renew.text);
    const pullIt = await call(tev('PullMessages', '<tev:Timeout>PT1S</tev:Timeout><tev:MessageLimit>1</tev:MessageLimit>'), path);
    assert.equal(pullIt.status, 400, 'a push subscription has no pull point');
    assert.equal((await call(wsnt('Unsubscribe'), path)).status, 200);
    assert.equal(eventServiceState().pushSubscriptions, 0);
  });

  it('a SOAP 1.1 subscriber gets SOAP 1.1 Notify messages', async () => {
    const before = received.length;
    const res = await request(`${origin}/onvif/cam1/events_service`, {
      method: 'POST',
      headers: { 'content-type': 'text/xml; charset=utf-8' },
      body: envelope(wsnt('Subscribe', `<wsnt:ConsumerReference><wsa:Address xmlns:wsa="${NS.wsa}">${consumerUrl}/v11</wsa:Address></wsnt:ConsumerReference>`), { user: USERS.viewer, version: '1.1' }),
    });
    const a = readAnswer(res.statusCode, res.headers, await res.body.text());
    assert.equal(a.status, 200, a.text);
    await waitFor(() => received.length > before, 5000, 'the first Notify');
    assert.match(received[before]!.contentType, /^text\/xml/);
    assert.equal(received[before]!.path, '/v11');
    const address = child(child(a.body, 'SubscriptionReference', NS.wsnt), 'Address', NS.wsa)!.text;
    assert.equal((await call(wsnt('Unsubscribe'), address.slice(`${origin}/onvif/cam1/`.length))).status, 200);
  });

  it('a consumer that keeps failing loses its subscription', async () => {
    failing = true;
    try {
      const a = await subscribe(`${consumerUrl}/broken`);
      assert.equal(a.status, 200, a.text);
      await waitFor(() => eventServiceState().pushSubscriptions === 0, 5000, 'the failing subscription to be dropped');
    } finally {
      failing = false;
    }
  });

  it('forbiddenAddress: link-local, metadata, multicast and unspecified, also IPv4-mapped; private and loopback allowed', () => {
    for (const ip of ['169.254.169.254', '::ffff:169.254.169.254', '::ffff:a9fe:a9fe', '0.0.0.0', '224.0.0.251', '255.255.255.255', 'fe80::1', 'ff02::1', '::', 'fd00:ec2::254', '100.100.100.200']) {
      assert.ok(forbiddenAddress(ip), ip);
    }
    for (const ip of ['10.0.0.5', '192.168.1.20', '172.16.0.1', '127.0.0.1', '::1', '::ffff:c0a8:114', 'fd12::5']) {
      assert.equal(forbiddenAddress(ip), undefined, ip);
    }
  });

  it('consumer addresses to forbidden places are refused', async () => {
    const gateway = `${origin}/onvif/cam1/events_service`;
    for (const address of [
      'http://169.254.169.254/latest/meta-data/',
      'http://[fe80::1]/x',
      'http://[::ffff:169.254.169.254]/latest/meta-data/',
      'http://metadata.google.internal/computeMetadata/v1/',
      `http://user:secret@127.0.0.1:${new URL(consumerUrl).port}/x`,
      'ftp://127.0.0.1/x',
      'file:///etc/passwd',
      gateway,
      gateway.replace('127.0.0.1', 'localhost'),
      'http://0.0.0.0:9/',
      'not a url',
    ]) {
      const a = await subscribe(address);
      assert.equal(a.status, 400, `${address}: ${a.status}`);
      assert.deepEqual(a.subcodes, ['ter:InvalidArgVal', 'wsnt:SubscribeCreationFailedFault'], address);
    }
    assert.equal(eventServiceState().pushSubscriptions, 0);
  });
});

describe('ONVIF events: closing', () => {
  it('a reconfigured camera keeps its subscriptions: they move to the new entry and get the state again', async () => {
    const { path } = await createPull();
    await pull(path);
    const old = stack.cameras.get('cam1')!;
    stack.sim.setPassword('cam-pass-Changed7');
    const entry = await changeCamera(stack.cameras, 'cam1', { password: 'cam-pass-Changed7' });
    assert.notEqual(entry, old);
    const again = await pull(path, 'PT5S');
    assert.ok(again.messages.length > 0 && again.messages.every((m) => m.op === 'Initialized'), JSON.stringify(again.messages.map((m) => m.op)));
    await waitFor(() => stack.sim.attachCount() === 1, 3000, 'one attach, from the new entry');
    const held = pull(path, 'PT5S');
    await new Promise((r) => setTimeout(r, 100));
    stack.sim.raiseEvent('VideoLoss', 'Start', 0);
    assert.deepEqual((await held).messages.find((m) => m.topic === 'tns1:VideoSource/SignalLoss')?.data, { State: 'true' });
    stack.sim.raiseEvent('VideoLoss', 'Stop', 0);
    await call(wsnt('Unsubscribe'), path);
  });

  it("the service's close ends held pulls and subscriptions of a camera", async () => {
    const { path } = await createPull();
    await pull(path);
    const held = pull(path, 'PT30S');
    await waitFor(() => eventServiceState().pendingPulls === 1, 2000, 'the pull to be held');
    const t0 = Date.now();
    await onvifOf(stack.app).close(stack.cameras.get('cam1'));
    const r = await held;
    assert.ok(Date.now() - t0 < 1000);
    assert.equal(r.messages.length, 0);
    assert.equal(eventServiceState().pullPoints, 0);
    await waitFor(() => stack.sim.attachCount() === 0, 3000, 'the upstream attach to close');
  });
});
