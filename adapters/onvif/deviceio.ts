// ONVIF DeviceIO service (ver10 deviceio.wsdl) and the relay operations the device service shares
// (Profile S wants tds:GetRelayOutputs / tds:SetRelayOutputState on the device service; the
// deviceio WSDL uses those same tds elements, so they are registered once, by the device service).
//
// Relays are the camera's alarm outputs (AlarmOut table, vendor §4.9.3): Mode 1 forces the output
// on and holds it, so the one relay mode this camera has is Bistable. Digital inputs are its alarm
// inputs (alarm.cgi getInSlots, §4.9.4) with the idle state from Alarm[n].SensorType (§4.9.2).
import type { CameraEntry } from '../../gateway/cameras.ts';
import { counts, list, obj, optionalConfig, remembered, str } from './camera-facts.ts';
import { invalidArg, NS } from './soap.ts';
import { tokens } from './topics.ts';
import type { OnvifContext, OnvifOperation, OnvifService } from './service.ts';
import { child, el, textAt, type XmlNode, type XmlOut } from './xml.ts';

/** Relay tokens count from 1 (`RelayOutput1` is AlarmOut[0]). */
export function relayToken(index: number): string {
  return `RelayOutput${index + 1}`;
}

/** Digital input tokens count from 1 (`DigitalInput1` is alarm input 0); the events service uses the same. */
export function digitalInputToken(index: number): string {
  return `DigitalInput${index + 1}`;
}

function tokenIndex(token: string | undefined, prefix: string, count: number, subcode: string): number {
  const m = token === undefined ? null : new RegExp(`^${prefix}([1-9]\\d{0,2})$`).exec(token.trim());
  const index = m ? Number(m[1]) - 1 : -1;
  if (index < 0 || index >= count) throw invalidArg(`no ${prefix} with token '${token ?? ''}'`, subcode);
  return index;
}

/** The relays the camera can drive: its AlarmOut entries, none on models without the table (hardware: read once per entry). */
export function relayCount(entry: CameraEntry): Promise<number> {
  return remembered(entry, 'relays', async () => {
    const [slots, table] = await Promise.all([counts.alarmOutputs(entry), optionalConfig(entry, 'AlarmOut', AbortSignal.timeout(6000))]);
    return table ? Math.min(slots, list(table.AlarmOut).length) : 0;
  });
}

export async function digitalInputCount(entry: CameraEntry): Promise<number> {
  return counts.alarmInputs(entry);
}

// The camera holds a forced output until told otherwise and has no idle-state or pulse setting.
const RELAY_PROPERTIES = (): XmlOut[] => [el('tt:Mode', 'Bistable'), el('tt:DelayTime', 'PT0S'), el('tt:IdleState', 'open')];

async function relayOutputs(request: XmlNode, ctx: OnvifContext): Promise<XmlOut> {
  void request;
  const n = await relayCount(ctx.entry);
  const relays: XmlOut[] = [];
  for (let i = 0; i < n; i++) relays.push(el('tds:RelayOutputs', el('tt:Properties', RELAY_PROPERTIES()), { token: relayToken(i) }));
  return el('tds:GetRelayOutputsResponse', relays);
}

/** Settings this camera can hold: Bistable with an open idle state (DelayTime has no meaning then). */
function checkRelaySettings(properties: XmlNode | undefined): void {
  if (!properties) throw invalidArg('Properties are missing');
  const mode = textAt(properties, 'Mode');
  const idle = textAt(properties, 'IdleState');
  if (mode !== 'Bistable') throw invalidArg(`this camera's alarm outputs are Bistable only (got '${mode ?? ''}')`, 'ter:ModeError');
  if (idle !== 'open') throw invalidArg(`this camera's alarm outputs have an open idle state only (got '${idle ?? ''}')`, 'ter:ModeError');
}

async function setRelaySettings(token: string | undefined, properties: XmlNode | undefined, ctx: OnvifContext): Promise<void> {
  tokenIndex(token, 'RelayOutput', await relayCount(ctx.entry), 'ter:RelayToken');
  checkRelaySettings(properties);
}

async function setRelayState(request: XmlNode, ctx: OnvifContext): Promise<XmlOut> {
  const state = textAt(request, 'LogicalState');
  if (state !== 'active' && state !== 'inactive') throw invalidArg(`LogicalState must be active or inactive (got '${state ?? ''}')`);
  const index = tokenIndex(textAt(request, 'RelayOutputToken'), 'RelayOutput', await relayCount(ctx.entry), 'ter:RelayToken');
  // active = 1 (force the output on); inactive = 0 (automatic: off, and free again for the
  // camera's own alarm linkage), not 2, which would switch that linkage off for good.
  await ctx.entry.camera.setConfig([[`AlarmOut[${index}].Mode`, state === 'active' ? '1' : '0']], { signal: ctx.signal });
  return el('tds:SetRelayOutputStateResponse');
}

/** tds operations the device service registers (the deviceio WSDL uses these elements too). */
export const deviceRelayOperations: readonly OnvifOperation[] = [
  { name: 'GetRelayOutputs', access: 'viewer', handle: relayOutputs },
  {
    name: 'SetRelayOutputSettings',
    access: 'operator',
    handle: async (request, ctx) => {
      await setRelaySettings(textAt(request, 'RelayOutputToken'), child(request, 'Properties'), ctx);
      return el('tds:SetRelayOutputSettingsResponse');
    },
  },
  { name: 'SetRelayOutputState', access: 'operator', handle: setRelayState },
];

async function deviceIoCapabilities(ctx: OnvifContext): Promise<XmlOut> {
  const [video, audioIn, audioOut, relays, inputs] = await Promise.all([
    counts.videoSources(ctx.entry),
    counts.audioSources(ctx.entry),
    counts.audioOutputs(ctx.entry),
    relayCount(ctx.entry),
    digitalInputCount(ctx.entry),
  ]);
  return el('tmd:Capabilities', undefined, {
    VideoSources: video,
    VideoOutputs: 0,
    AudioSources: audioIn,
    AudioOutputs: audioOut,
    RelayOutputs: relays,
    SerialPorts: 0,
    DigitalInputs: inputs,
    DigitalInputOptions: false,
  });
}

export const deviceIoService: OnvifService = {
  key: 'deviceio',
  ns: NS.tmd,
  path: 'deviceio_service',
  version: { major: 2, minor: 6 },
  available: async () => true,
  capabilities: deviceIoCapabilities,
  operations: [
    {
      name: 'GetServiceCapabilities',
      access: 'preauth',
      handle: async (_request, ctx) => el('tmd:GetServiceCapabilitiesResponse', await deviceIoCapabilities(ctx)),
    },
    {
      name: 'GetRelayOutputOptions',
      access: 'viewer',
      handle: async (request, ctx) => {
        const n = await relayCount(ctx.entry);
        const wanted = textAt(request, 'RelayOutputToken');
        const indexes = wanted === undefined ? [...Array(n).keys()] : [tokenIndex(wanted, 'RelayOutput', n, 'ter:RelayToken')];
        return el(
          'tmd:GetRelayOutputOptionsResponse',
          indexes.map((i) => el('tmd:RelayOutputOptions', el('tmd:Mode', 'Bistable'), { token: relayToken(i) })),
        );
      },
    },
    {
      name: 'SetRelayOutputSettings',
      access: 'operator',
      handle: async (request, ctx) => {
        const relay = child(request, 'RelayOutput');
        await setRelaySettings(relay?.attrs.get('token'), child(relay, 'Properties'), ctx);
        return el('tmd:SetRelayOutputSettingsResponse');
      },
    },
    {
      name: 'GetVideoSources',
      access: 'viewer',
      handle: async (_request, ctx) => {
        const n = await counts.videoSources(ctx.entry);
        return el('tmd:GetVideoSourcesResponse', [...Array(n).keys()].map((i) => el('tmd:Token', tokens.videoSource(i + 1))));
      },
    },
    {
      name: 'GetDigitalInputs',
      access: 'viewer',
      handle: async (_request, ctx) => {
        const [n, alarm] = await Promise.all([digitalInputCount(ctx.entry), optionalConfig(ctx.entry, 'Alarm', ctx.signal)]);
        const inputs = list(alarm?.Alarm);
        const idle = (i: number): string | undefined => {
          // NC (normally closed) contacts idle closed, NO ones open.
          const type = str(obj(inputs[i])?.SensorType)?.trim().toUpperCase();
          return type === 'NC' ? 'closed' : type === 'NO' ? 'open' : undefined;
        };
        return el(
          'tmd:GetDigitalInputsResponse',
          [...Array(n).keys()].map((i) => el('tmd:DigitalInputs', undefined, { token: digitalInputToken(i), IdleState: idle(i) })),
        );
      },
    },
  ],
};
