// The camera's event codes (vendor §4.9.17) as ONVIF topics (pure): which topic each code feeds,
// the Source and Data items of its messages, the TopicSet of GetEventProperties, and the topic
// filters of CreatePullPointSubscription/Subscribe (Concrete, ConcreteSet, Simple dialects).
import { NS } from './soap.ts';
import { el, type XmlOut } from './xml.ts';

/** Topics without an ONVIF equivalent live in camgate's own topic namespace. */
export const CAMGATE_TOPICS_NS = 'https://camgate.dev/ver10/topics';
export const CAMGATE_TOPICS_PREFIX = 'tcg';

export const DIALECT = {
  simple: 'http://docs.oasis-open.org/wsn/t-1/TopicExpression/Simple',
  concrete: 'http://docs.oasis-open.org/wsn/t-1/TopicExpression/Concrete',
  concreteSet: 'http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet',
} as const;

/**
 * The instance tokens messages name, channel counted from 1: the same as imaging.ts
 * (`VideoSource_1`) and deviceio.ts (`DigitalInput1`, `RelayOutput1`) write.
 */
export const tokens = {
  videoSource: (channel: number) => `VideoSource_${channel}`,
  videoSourceConfiguration: (channel: number) => `VideoSourceConfig_${channel}`,
  videoAnalyticsConfiguration: (channel: number) => `VideoAnalyticsConfig_${channel}`,
  digitalInput: (channel: number) => `DigitalInput${channel}`,
  relayOutput: (channel: number) => `RelayOutput${channel}`,
  storage: (channel: number) => `Storage_${channel}`,
};

/** What a topic's instances are counted over (for the Initialized state of every instance). */
export type InstanceKind = 'video' | 'input' | 'output' | 'storage';

export interface TopicDef {
  /** `tns1:VideoSource/MotionAlarm` as written in wsnt:Topic. */
  topic: string;
  prefix: 'tns1' | typeof CAMGATE_TOPICS_PREFIX;
  /** The topic's path without prefixes: ['VideoSource', 'MotionAlarm']. */
  path: readonly string[];
  /** Camera event codes (vendor §4.9.17) that drive this topic; Start = true, Stop = false. */
  codes: readonly string[];
  instances: InstanceKind;
  source: ReadonlyArray<{ name: string; type: string; value: (channel: number) => string }>;
  data: { name: string; type: string; value: (active: boolean) => string };
}

const bool = (active: boolean): string => (active ? 'true' : 'false');
const videoSource = [{ name: 'Source', type: 'tt:ReferenceToken', value: tokens.videoSource }];
const analyticsSource = [
  { name: 'VideoSourceConfigurationToken', type: 'tt:ReferenceToken', value: tokens.videoSourceConfiguration },
  { name: 'VideoAnalyticsConfigurationToken', type: 'tt:ReferenceToken', value: tokens.videoAnalyticsConfiguration },
  { name: 'Rule', type: 'xs:string', value: () => 'MotionDetectorRule' },
];

function def(topic: string, codes: string[], instances: InstanceKind, source: TopicDef['source'], data: TopicDef['data']): TopicDef {
  const [prefix, rest] = topic.split(':') as [TopicDef['prefix'], string];
  return { topic, prefix, path: rest.split('/'), codes, instances, source, data };
}

/** Every topic camgate raises; all are properties (a state with Initialized/Changed messages). */
export const TOPICS: readonly TopicDef[] = [
  def('tns1:VideoSource/MotionAlarm', ['VideoMotion'], 'video', videoSource, { name: 'State', type: 'xs:boolean', value: bool }),
  def('tns1:RuleEngine/CellMotionDetector/Motion', ['VideoMotion'], 'video', analyticsSource, { name: 'IsMotion', type: 'xs:boolean', value: bool }),
  // VideoBlind is the camera's tamper alarm (lens covered, scene changed).
  def('tns1:VideoSource/GlobalSceneChange/ImagingService', ['VideoBlind'], 'video', videoSource, { name: 'State', type: 'xs:boolean', value: bool }),
  def('tns1:VideoSource/SignalLoss', ['VideoLoss'], 'video', videoSource, { name: 'State', type: 'xs:boolean', value: bool }),
  def('tns1:Device/Trigger/DigitalInput', ['AlarmLocal'], 'input', [{ name: 'InputToken', type: 'tt:ReferenceToken', value: tokens.digitalInput }], { name: 'LogicalState', type: 'xs:boolean', value: bool }),
  def('tns1:Device/Trigger/Relay', ['AlarmOutput'], 'output', [{ name: 'RelayToken', type: 'tt:ReferenceToken', value: tokens.relayOutput }], { name: 'LogicalState', type: 'tt:RelayLogicalState', value: (a) => (a ? 'active' : 'inactive') }),
  def('tns1:Device/HardwareFailure/StorageFailure', ['StorageFailure'], 'storage', [{ name: 'Token', type: 'tt:ReferenceToken', value: tokens.storage }], { name: 'Failed', type: 'xs:boolean', value: bool }),
  def(`${CAMGATE_TOPICS_PREFIX}:Storage/NotExist`, ['StorageNotExist'], 'storage', [{ name: 'Token', type: 'tt:ReferenceToken', value: tokens.storage }], { name: 'State', type: 'xs:boolean', value: bool }),
  def(`${CAMGATE_TOPICS_PREFIX}:Storage/LowSpace`, ['StorageLowSpace'], 'storage', [{ name: 'Token', type: 'tt:ReferenceToken', value: tokens.storage }], { name: 'State', type: 'xs:boolean', value: bool }),
];

/** The camera codes that have a topic. */
export const TOPIC_CODES: ReadonlySet<string> = new Set(TOPICS.flatMap((t) => t.codes));

export function topicsOfCode(code: string): TopicDef[] {
  return TOPICS.filter((t) => t.codes.includes(code));
}

/** `xmlns:tcg` where a camgate topic is written (tns1 is declared on the Envelope). */
export function topicNsAttrs(t: TopicDef): Record<string, string> | undefined {
  return t.prefix === CAMGATE_TOPICS_PREFIX ? { [`xmlns:${CAMGATE_TOPICS_PREFIX}`]: CAMGATE_TOPICS_NS } : undefined;
}

// ---------------------------------------------------------------- GetEventProperties

interface TreeNode { name: string; prefix: string; children: TreeNode[]; leaf: TopicDef | undefined }

/** wstop:TopicSet: the topic tree, each leaf with its tt:MessageDescription. */
export function topicSet(): XmlOut {
  const roots: TreeNode[] = [];
  for (const t of TOPICS) {
    let level = roots;
    let node: TreeNode | undefined;
    for (const name of t.path) {
      node = level.find((n) => n.name === name && n.prefix === t.prefix);
      if (!node) level.push((node = { name, prefix: t.prefix, children: [], leaf: undefined }));
      level = node.children;
    }
    node!.leaf = t;
  }
  const write = (n: TreeNode, top: boolean): XmlOut => {
    const attrs: Record<string, string> = {};
    if (top && n.prefix === CAMGATE_TOPICS_PREFIX) attrs[`xmlns:${CAMGATE_TOPICS_PREFIX}`] = CAMGATE_TOPICS_NS;
    if (n.leaf) attrs['wstop:topic'] = 'true';
    return el(`${n.prefix}:${n.name}`, [n.leaf ? messageDescription(n.leaf) : undefined, n.children.map((c) => write(c, false))], attrs);
  };
  return el('wstop:TopicSet', roots.map((r) => write(r, true)));
}

function messageDescription(t: TopicDef): XmlOut {
  // XSD order: Source, Key, Data, Extension.
  return el('tt:MessageDescription', [
    el('tt:Source', t.source.map((s) => el('tt:SimpleItemDescription', undefined, { Name: s.name, Type: s.type }))),
    el('tt:Data', el('tt:SimpleItemDescription', undefined, { Name: t.data.name, Type: t.data.type })),
  ], { IsProperty: true });
}

// ---------------------------------------------------------------- filters

export class TopicFilterError extends Error {
  constructor(readonly kind: 'dialect' | 'expression' | 'unsupported', message: string) {
    super(message);
  }
}

/**
 * The topics a TopicExpression selects. The root's prefix is resolved with the prefixes in scope
 * of the expression's element when they are known (a client may bind any prefix to the ONVIF
 * topic namespace); without them, or when the prefix is not bound, segments match by local name.
 * Concrete: one path; ConcreteSet: paths joined by `|`, each may end in `//.` (the subtree) or
 * use `*` for one level; Simple: a root topic and everything below it.
 */
export function matchTopics(dialect: string, expression: string, scope?: ReadonlyMap<string, string>): TopicDef[] {
  const text = expression.trim();
  if (text === '') throw new TopicFilterError('expression', 'the TopicExpression is empty');
  let alternatives: string[];
  if (dialect === DIALECT.concreteSet) alternatives = text.split('|');
  else if (dialect === DIALECT.concrete || dialect === DIALECT.simple) alternatives = [text];
  else throw new TopicFilterError('dialect', `the TopicExpression dialect ${dialect || '(none)'} is not supported`);
  const found = new Set<TopicDef>();
  for (const alt of alternatives) {
    let expr = alt.trim();
    let subtree = dialect === DIALECT.simple;
    if (expr.endsWith('//.')) { subtree = true; expr = expr.slice(0, -3); }
    if (!/^[A-Za-z_][\w.-]*:[\w.*-]+(\/[\w.*-]+)*$|^[\w.*-]+(\/[\w.*-]+)*$/.test(expr)) {
      throw new TopicFilterError('expression', `the TopicExpression '${alt.trim().slice(0, 100)}' is not a topic path`);
    }
    if (dialect === DIALECT.simple && expr.includes('/')) throw new TopicFilterError('expression', 'the Simple dialect names a root topic only');
    const rootPrefix = /^([^:/]+):/.exec(expr)?.[1];
    const rootNs = rootPrefix === undefined ? undefined : scope?.get(rootPrefix);
    const segments = expr.split('/').map((s) => s.replace(/^[^:]*:/, ''));
    for (const t of TOPICS) {
      if (rootNs !== undefined && rootNs !== (t.prefix === CAMGATE_TOPICS_PREFIX ? CAMGATE_TOPICS_NS : NS.tns1)) continue;
      if (segments.length > t.path.length || (!subtree && segments.length !== t.path.length)) continue;
      if (segments.every((s, i) => s === '*' || s === t.path[i])) found.add(t);
    }
  }
  if (found.size === 0) throw new TopicFilterError('unsupported', `no topic of this device matches '${text.slice(0, 100)}'`);
  return [...found];
}
