// ptz.cgi and ptzBase.cgi of the PTZ-capable variant (SimulatorOptions.ptz, vendor §4.10): presets,
// tours and a head position that the control codes move, so that getStatus and getPresets show
// what the last commands did. The four real models are N/A for §4.10; routes.ts answers them
// ErrorID 3 unless the variant is on.
import type { CgiHandler, CgiRequest } from './camera.ts';
import { cameraError, ok, text, type Reply } from './replies.ts';

// The document's getCurrentProtocolCaps example (answers.yaml, 4.10.4) bounds the numbers.
const PRESET_MIN = 1;
const PRESET_MAX = 80;
const TOUR_MIN = 0;
const TOUR_MAX = 7;
const PATTERN_MIN = 1;
const PATTERN_MAX = 5;
const AUX_MIN = 1;
const AUX_MAX = 8;
const SPEED_MAX = 8;
// moveDirectly: the screen is 8192 units wide and high; the simulated lens sees this many degrees.
const SCREEN = 8192;
const FIELD_OF_VIEW = 60;

interface Position { pan: number; tilt: number; zoom: number }
interface Tour { name: string; presets: number[] }

/** The example answers of §4.10.5, §4.10.6 and §4.10.8 are the initial state. */
export class PtzState {
  presets = new Map<number, { name: string; position: Position }>();
  tours = new Map<number, Tour>();
  patterns = new Set<number>();
  position: Position = { pan: 120, tilt: 12, zoom: 2 };
  moveStatus = 'Idle';
  zoomStatus = 'Idle';
  presetId = 10;
  private readonly startedAt = Date.now();

  constructor() {
    this.reset();
  }

  reset(): void {
    this.presets.clear();
    this.tours.clear();
    this.patterns.clear();
    for (const i of [1, 2, 3]) {
      this.presets.set(i, { name: `preset${i}`, position: { pan: 30 * i, tilt: 10 * i, zoom: i } });
      this.tours.set(i, { name: `tour${i}`, presets: [] });
    }
    this.position = { pan: 120, tilt: 12, zoom: 2 };
    this.moveStatus = 'Idle';
    this.zoomStatus = 'Idle';
    this.presetId = 10;
  }

  /** status.UTC of the example is 6538920; it counts on in seconds from there. */
  utc(): number {
    return 6_538_920 + Math.floor((Date.now() - this.startedAt) / 1000);
  }
}

function stateOf(req: CgiRequest): PtzState | null {
  return req.camera.ptz;
}

// The camera has one video channel: ptz.cgi takes channel 1 (reads may leave it out).
function badChannel(req: CgiRequest, required: boolean): boolean {
  const channel = req.url.get('channel');
  if (channel === undefined) return required;
  return channel !== '1';
}

function intArg(req: CgiRequest, name: string): number | null {
  const raw = req.url.get(name);
  if (raw === undefined || !/^-?\d{1,9}$/.test(raw)) return null;
  return Number(raw);
}

function numArg(req: CgiRequest, name: string): number | null {
  const raw = req.url.get(name);
  if (raw === undefined || !/^-?\d{1,9}(\.\d{1,6})?$/.test(raw)) return null;
  return Number(raw);
}

const inRange = (v: number | null, min: number, max: number): v is number => v !== null && v >= min && v <= max;
const wrapPan = (pan: number): number => ((pan % 360) + 360) % 360;
const clamp = (v: number, min: number, max: number): number => Math.min(max, Math.max(min, v));
const round = (v: number): number => Math.round(v * 100) / 100;

export const getPresets: CgiHandler = (req) => {
  const ptz = stateOf(req);
  if (!ptz) return cameraError(3);
  if (badChannel(req, false)) return cameraError(4);
  const lines: string[] = [];
  [...ptz.presets.entries()].sort(([a], [b]) => a - b).forEach(([index, p], i) => {
    lines.push(`presets.presets[${i}].Index=${index}`, `presets.presets[${i}].Name=${p.name}`);
  });
  return text(lines.join('\r\n'));
};

export const getTours: CgiHandler = (req) => {
  const ptz = stateOf(req);
  if (!ptz) return cameraError(3);
  if (badChannel(req, false)) return cameraError(4);
  const lines: string[] = [];
  [...ptz.tours.entries()].sort(([a], [b]) => a - b).forEach(([index, t], i) => {
    lines.push(`tours.tours[${i}].Index=${index}`, `tours.tours[${i}].Name=${t.name}`);
  });
  return text(lines.join('\r\n'));
};

export const getStatus: CgiHandler = (req) => {
  const ptz = stateOf(req);
  if (!ptz) return cameraError(3);
  if (badChannel(req, false)) return cameraError(4);
  const { pan, tilt, zoom } = ptz.position;
  return text(
    [
      `status.UTC=${ptz.utc()}`,
      `status.MoveStatus=${ptz.moveStatus}`,
      `status.ZoomStatus=${ptz.zoomStatus}`,
      `status.PresetID=${ptz.presetId}`,
      `status.Position=${round(pan)},${round(tilt)},${round(zoom)}`,
    ].join('\r\n'),
  );
};

type Control = (ptz: PtzState, req: CgiRequest) => Reply;

const DIRECTIONS: Record<string, [number, number]> = {
  Up: [0, 1], Down: [0, -1], Left: [-1, 0], Right: [1, 0],
  LeftUp: [-1, 1], RightUp: [1, 1], LeftDown: [-1, -1], RightDown: [1, -1],
};

// A start moves the head one step in the direction at once and leaves it "Moving" until the stop.
function directional(code: string): Control {
  const [dx, dy] = DIRECTIONS[code]!;
  const diagonal = dx !== 0 && dy !== 0;
  return (ptz, req) => {
    const vertical = intArg(req, diagonal ? 'arg1' : 'arg2');
    const horizontal = intArg(req, 'arg2');
    if (!inRange(vertical, 1, SPEED_MAX) || !inRange(horizontal, 1, SPEED_MAX)) return cameraError(4);
    ptz.position.pan = wrapPan(ptz.position.pan + dx * horizontal);
    ptz.position.tilt = clamp(ptz.position.tilt - dy * vertical, 0, 90);
    ptz.moveStatus = 'Moving';
    return ok();
  };
}

function lens(zoomBy: number): Control {
  return (ptz) => {
    if (zoomBy !== 0) {
      ptz.position.zoom = clamp(ptz.position.zoom + zoomBy, 1, 30);
      ptz.zoomStatus = 'Zooming';
    }
    return ok();
  };
}

function numbered(arg: string, min: number, max: number, then: (ptz: PtzState, n: number, req: CgiRequest) => Reply): Control {
  return (ptz, req) => {
    const n = intArg(req, arg);
    if (!inRange(n, min, max)) return cameraError(4);
    return then(ptz, n, req);
  };
}

const moving = (status: string): Control => (ptz) => {
  ptz.moveStatus = status;
  return ok();
};

const accepted: Control = () => ok();

const CONTROLS: Record<string, Control> = {
  ...Object.fromEntries(Object.keys(DIRECTIONS).map((code) => [code, directional(code)])),
  ZoomWide: lens(-1),
  ZoomTele: lens(1),
  FocusNear: lens(0),
  FocusFar: lens(0),
  IrisLarge: lens(0),
  IrisSmall: lens(0),
  GotoPreset: numbered('arg2', PRESET_MIN, PRESET_MAX, (ptz, n) => {
    const preset = ptz.presets.get(n);
    if (!preset) return cameraError(4);
    ptz.position = { ...preset.position };
    ptz.presetId = n;
    ptz.moveStatus = 'Idle';
    return ok();
  }),
  SetPreset: numbered('arg2', PRESET_MIN, PRESET_MAX, (ptz, n) => {
    ptz.presets.set(n, { name: ptz.presets.get(n)?.name ?? `preset${n}`, position: { ...ptz.position } });
    ptz.presetId = n;
    return ok();
  }),
  ClearPreset: numbered('arg2', PRESET_MIN, PRESET_MAX, (ptz, n) => {
    ptz.presets.delete(n);
    for (const tour of ptz.tours.values()) tour.presets = tour.presets.filter((p) => p !== n);
    return ok();
  }),
  StartTour: numbered('arg1', TOUR_MIN, TOUR_MAX, (ptz, n) => {
    if (!ptz.tours.has(n)) return cameraError(4);
    ptz.moveStatus = 'Moving';
    return ok();
  }),
  StopTour: numbered('arg1', TOUR_MIN, TOUR_MAX, (ptz) => {
    ptz.moveStatus = 'Idle';
    return ok();
  }),
  AddTour: numbered('arg1', TOUR_MIN, TOUR_MAX, (ptz, n, req) => {
    const preset = intArg(req, 'arg2');
    if (!inRange(preset, PRESET_MIN, PRESET_MAX) || !ptz.presets.has(preset)) return cameraError(4);
    const tour = ptz.tours.get(n) ?? { name: `tour${n}`, presets: [] };
    tour.presets.push(preset);
    ptz.tours.set(n, tour);
    return ok();
  }),
  DelTour: numbered('arg1', TOUR_MIN, TOUR_MAX, (ptz, n, req) => {
    const preset = intArg(req, 'arg2');
    if (!inRange(preset, PRESET_MIN, PRESET_MAX)) return cameraError(4);
    const tour = ptz.tours.get(n);
    if (tour) tour.presets = tour.presets.filter((p) => p !== preset);
    return ok();
  }),
  ClearTour: numbered('arg1', TOUR_MIN, TOUR_MAX, (ptz, n) => {
    ptz.tours.delete(n);
    return ok();
  }),
  AutoPanOn: moving('Moving'),
  AutoPanOff: moving('Idle'),
  SetLeftLimit: accepted,
  SetRightLimit: accepted,
  AutoScanOn: moving('Moving'),
  AutoScanOff: moving('Idle'),
  SetPatternBegin: numbered('arg1', PATTERN_MIN, PATTERN_MAX, () => ok()),
  SetPatternEnd: numbered('arg1', PATTERN_MIN, PATTERN_MAX, (ptz, n) => {
    ptz.patterns.add(n);
    return ok();
  }),
  StartPattern: numbered('arg1', PATTERN_MIN, PATTERN_MAX, (ptz, n) => {
    if (!ptz.patterns.has(n)) return cameraError(4);
    ptz.moveStatus = 'Moving';
    return ok();
  }),
  StopPattern: numbered('arg1', PATTERN_MIN, PATTERN_MAX, (ptz) => {
    ptz.moveStatus = 'Idle';
    return ok();
  }),
  ClearPattern: numbered('arg1', PATTERN_MIN, PATTERN_MAX, (ptz, n) => {
    ptz.patterns.delete(n);
    return ok();
  }),
  AlarmSearch: accepted,
  // "Go to position": the document gives no units; the simulator reads them as degree offsets.
  Position: (ptz, req) => {
    const h = numArg(req, 'arg1');
    const v = numArg(req, 'arg2');
    const z = numArg(req, 'arg3');
    if (h === null || v === null || z === null) return cameraError(4);
    ptz.position = { pan: wrapPan(ptz.position.pan + h), tilt: clamp(ptz.position.tilt + v, 0, 90), zoom: clamp(ptz.position.zoom + z, 1, 30) };
    ptz.moveStatus = 'Idle';
    return ok();
  },
  AuxOn: numbered('arg1', AUX_MIN, AUX_MAX, () => ok()),
  AuxOff: numbered('arg1', AUX_MIN, AUX_MAX, () => ok()),
  Menu: accepted,
  Exit: accepted,
  Enter: accepted,
  MenuUp: accepted,
  MenuDown: accepted,
  MenuLeft: accepted,
  MenuRight: accepted,
  Reset: (ptz) => {
    ptz.reset();
    return ok();
  },
  LightController: (_ptz, req) => {
    const on = req.url.get('arg3');
    return on === '0' || on === '1' ? ok() : cameraError(4);
  },
  PositionABS: (ptz, req) => {
    const pan = numArg(req, 'arg1');
    const tilt = numArg(req, 'arg2');
    const zoom = numArg(req, 'arg3');
    const speed = req.url.get('arg4');
    if (!inRange(pan, 0, 360) || !inRange(tilt, 0, 90) || !inRange(zoom, 1, 30)) return cameraError(4);
    if (speed !== undefined && !inRange(intArg(req, 'arg4'), 1, SPEED_MAX)) return cameraError(4);
    ptz.position = { pan: wrapPan(pan), tilt, zoom };
    ptz.moveStatus = 'Idle';
    return ok();
  },
  PositionReset: (ptz) => {
    ptz.position = { ...ptz.position, pan: 0, tilt: 0 };
    return ok();
  },
  Continuously: (ptz, req) => {
    const speeds = ['arg1', 'arg2', 'arg3'].map((a) => intArg(req, a));
    if (!speeds.every((s) => inRange(s, -SPEED_MAX, SPEED_MAX))) return cameraError(4);
    const [pan, tilt, zoom] = speeds as [number, number, number];
    ptz.position.pan = wrapPan(ptz.position.pan + pan);
    ptz.position.tilt = clamp(ptz.position.tilt + tilt, 0, 90);
    ptz.position.zoom = clamp(ptz.position.zoom + zoom / SPEED_MAX, 1, 30);
    if (pan !== 0 || tilt !== 0) ptz.moveStatus = 'Moving';
    if (zoom !== 0) ptz.zoomStatus = 'Zooming';
    return ok();
  },
};

/** action=start: runs the code. */
export const start: CgiHandler = (req) => {
  const ptz = stateOf(req);
  if (!ptz) return cameraError(3);
  if (badChannel(req, true)) return cameraError(4);
  const control = CONTROLS[req.url.get('code') ?? ''];
  return control ? control(ptz, req) : cameraError(4);
};

/** action=stop: ends what a start of the same code began (moves, lens, continuous moves). */
export const stop: CgiHandler = (req) => {
  const ptz = stateOf(req);
  if (!ptz) return cameraError(3);
  if (badChannel(req, true)) return cameraError(4);
  const code = req.url.get('code') ?? '';
  if (!(code in CONTROLS)) return cameraError(4);
  if (code in DIRECTIONS || code === 'Continuously') ptz.moveStatus = 'Idle';
  if (/^(Zoom|Focus|Iris)/.test(code) || code === 'Continuously') ptz.zoomStatus = 'Idle';
  return ok();
};

/** ptzBase.cgi moveDirectly: centres the view on the rectangle and zooms so that it fills the screen. */
export const moveDirectly: CgiHandler = (req) => {
  const ptz = stateOf(req);
  if (!ptz) return cameraError(3);
  if (badChannel(req, true)) return cameraError(4);
  const [sx, sy, ex, ey] = ['startPoint[0]', 'startPoint[1]', 'endPoint[0]', 'endPoint[1]'].map((k) => intArg(req, k));
  if (![sx, sy, ex, ey].every((v) => inRange(v ?? null, 0, SCREEN))) return cameraError(4);
  const [x0, y0, x1, y1] = [sx, sy, ex, ey] as [number, number, number, number];
  const view = FIELD_OF_VIEW / ptz.position.zoom;
  const width = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1);
  ptz.position = {
    pan: wrapPan(ptz.position.pan + (((x0 + x1) / 2 - SCREEN / 2) / SCREEN) * view),
    tilt: clamp(ptz.position.tilt + (((y0 + y1) / 2 - SCREEN / 2) / SCREEN) * view, 0, 90),
    zoom: clamp(ptz.position.zoom * (SCREEN / width), 1, 30),
  };
  ptz.moveStatus = 'Idle';
  return ok();
};
