// ONVIF scopes and discovery mode, kept per camera in memory (the camera has no place for them);
// WS-Discovery (discovery.ts) reads them through scopesOf and discoveryModeOf.
import { EventEmitter } from 'node:events';
import type { CameraEntry } from '../../gateway/cameras.ts';
import { invalidArg, OnvifFault } from './soap.ts';
import type { OnvifOperation } from './service.ts';
import { children, el, textAt, type XmlNode } from './xml.ts';

const SCOPE = 'onvif://www.onvif.org/';
const MAX_CONFIGURABLE_SCOPES = 16;
export type DiscoveryMode = 'Discoverable' | 'NonDiscoverable';

const scopeState = new Map<string, { configurable: string[]; mode: DiscoveryMode }>();

function stateOf(cameraId: string): { configurable: string[]; mode: DiscoveryMode } {
  let s = scopeState.get(cameraId);
  if (!s) scopeState.set(cameraId, (s = { configurable: [`${SCOPE}location/unknown`], mode: 'Discoverable' }));
  return s;
}

/** Emits `change` with the camera id when its scopes or discovery mode change (WS-Discovery sends Hello). */
export const discoveryChanges = new EventEmitter();

function fixedScopes(entry: CameraEntry): string[] {
  return [
    `${SCOPE}Profile/Streaming`,
    `${SCOPE}Profile/T`,
    `${SCOPE}type/video_encoder`,
    `${SCOPE}type/Network_Video_Transmitter`,
    `${SCOPE}hardware/${encodeURIComponent(entry.model)}`,
    `${SCOPE}name/${encodeURIComponent(entry.name ?? entry.id)}`,
  ];
}

/** Every scope of a camera, fixed ones first (for WS-Discovery Probe matching and Hello). */
export function scopesOf(entry: CameraEntry): string[] {
  return [...fixedScopes(entry), ...stateOf(entry.id).configurable];
}

export function discoveryModeOf(entry: CameraEntry): DiscoveryMode {
  return stateOf(entry.id).mode;
}

const SCOPE_URI = /^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>"{}|\\^`]{1,256}$/;

function scopeArgs(request: XmlNode, name: string): string[] {
  const items = children(request, name).map((c) => c.text);
  if (items.length === 0) throw invalidArg(`at least one ${name} is needed`);
  for (const s of items) if (!SCOPE_URI.test(s)) throw invalidArg(`'${s}' is not a scope URI`);
  return [...new Set(items)];
}


/** The configurable scopes become `scopes` (bounded); WS-Discovery announces the change. */
function setConfigurable(cameraId: string, scopes: string[]): void {
  if (scopes.length > MAX_CONFIGURABLE_SCOPES) throw new OnvifFault('Receiver', ['ter:Action', 'ter:TooManyScopes'], `at most ${MAX_CONFIGURABLE_SCOPES} configurable scopes`);
  stateOf(cameraId).configurable = scopes;
  discoveryChanges.emit('change', cameraId);
}

export const scopeOperations: readonly OnvifOperation[] = [
  {
    name: 'GetScopes',
    access: 'viewer',
    handle: async (_r, ctx) =>
      el('tds:GetScopesResponse', [
        ...fixedScopes(ctx.entry).map((s) => el('tds:Scopes', [el('tt:ScopeDef', 'Fixed'), el('tt:ScopeItem', s)])),
        ...stateOf(ctx.entry.id).configurable.map((s) => el('tds:Scopes', [el('tt:ScopeDef', 'Configurable'), el('tt:ScopeItem', s)])),
      ]),
  },
  {
    name: 'SetScopes',
    access: 'admin',
    handle: async (request, ctx) => {
      const scopes = scopeArgs(request, 'Scopes');
      const fixed = new Set(fixedScopes(ctx.entry));
      const clash = scopes.find((s) => fixed.has(s));
      if (clash) throw new OnvifFault('Sender', ['ter:OperationProhibited', 'ter:ScopeOverwrite'], `'${clash}' is a fixed scope`);
      setConfigurable(ctx.entry.id, scopes);
      return el('tds:SetScopesResponse');
    },
  },
  {
    name: 'AddScopes',
    access: 'admin',
    handle: async (request, ctx) => {
      const scopes = scopeArgs(request, 'ScopeItem');
      const state = stateOf(ctx.entry.id);
      const fixed = new Set(fixedScopes(ctx.entry));
      setConfigurable(ctx.entry.id, [...new Set([...state.configurable, ...scopes.filter((s) => !fixed.has(s))])]);
      return el('tds:AddScopesResponse');
    },
  },
  {
    name: 'RemoveScopes',
    access: 'admin',
    handle: async (request, ctx) => {
      const scopes = scopeArgs(request, 'ScopeItem');
      const state = stateOf(ctx.entry.id);
      const fixed = new Set(fixedScopes(ctx.entry));
      for (const s of scopes) {
        if (fixed.has(s)) throw invalidArg(`'${s}' is a fixed scope`, 'ter:FixedScope');
        if (!state.configurable.includes(s)) throw invalidArg(`'${s}' is not a scope of this device`, 'ter:NoScope');
      }
      setConfigurable(ctx.entry.id, state.configurable.filter((s) => !scopes.includes(s)));
      return el('tds:RemoveScopesResponse', scopes.map((s) => el('tds:ScopeItem', s)));
    },
  },
  {
    name: 'GetDiscoveryMode',
    access: 'viewer',
    handle: async (_r, ctx) => el('tds:GetDiscoveryModeResponse', el('tds:DiscoveryMode', stateOf(ctx.entry.id).mode)),
  },
  {
    name: 'SetDiscoveryMode',
    access: 'admin',
    handle: async (request, ctx) => {
      const mode = textAt(request, 'DiscoveryMode');
      if (mode !== 'Discoverable' && mode !== 'NonDiscoverable') throw invalidArg(`DiscoveryMode must be Discoverable or NonDiscoverable (got '${mode ?? ''}')`);
      stateOf(ctx.entry.id).mode = mode;
      discoveryChanges.emit('change', ctx.entry.id);
      return el('tds:SetDiscoveryModeResponse');
    },
  },
];
