// What one simulated camera is made of; handlers receive it with each request.
import type { Answers } from './answers.ts';
import type { CameraClock } from './clock.ts';
import type { Reply } from './replies.ts';
import type { ParsedUrl } from './query.ts';
import type { PtzState } from './ptz.ts';
import type { ConfigState } from './state.ts';
import type { CameraModel, Route, Surface } from './surface.ts';
import type { UserDirectory } from './users.ts';

export interface CameraContext {
  model: CameraModel;
  surface: Surface;
  state: ConfigState;
  tableSections: Map<string, string>;   // sections named by the seed files, for tables the matrix does not name
  answers: Answers;
  clock: CameraClock;
  ptz: PtzState | null;                 // the PTZ-capable variant (SimulatorOptions.ptz): §4.10 counts as supported
  users: UserDirectory;                 // userManager.cgi accounts and groups (§4.12)
  reboot(delaySeconds: number): void;
}

export interface CgiRequest {
  method: string;
  rawUrl: string;
  url: ParsedUrl;
  route: Route;
  camera: CameraContext;
}

export type CgiHandler = (req: CgiRequest) => Reply;

// Event handler tables (`Alarm[0].EventHandler`, ...) and tables the matrix does not name fall under 4.9.1.
export const GENERIC_TABLE_SECTION = '4.9.1';

export function tableSection(camera: Pick<CameraContext, 'surface' | 'tableSections'>, table: string): string {
  return camera.surface.configSections.get(table) ?? camera.tableSections.get(table) ?? GENERIC_TABLE_SECTION;
}

type SupportView = Pick<CameraContext, 'surface' | 'model'> & { ptz?: PtzState | null };

// §4.10 PTZ is N/A on all four models; the PTZ variant of the simulator answers it on any model.
function ptzSection(camera: SupportView, section: string): boolean {
  return camera.ptz != null && section.startsWith('4.10.');
}

export function sectionSupported(camera: SupportView, section: string): boolean {
  if (ptzSection(camera, section)) return true;
  const support = camera.surface.sectionSupport.get(section);
  return support ? support[camera.model] : true;
}

export function routeSupported(camera: SupportView, route: Route): boolean {
  return route.support[camera.model] || route.sections.some((s) => ptzSection(camera, s));
}
