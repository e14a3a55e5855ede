// What one simulated camera is made of; handlers receive it with each request.
import type { Answers } from './answers.ts';
import type { CameraClock } from './clock.ts';
import type { Reply } from './replies.ts';
import type { ParsedUrl } from './query.ts';
import type { ConfigState } from './state.ts';
import type { CameraModel, Route, Surface } from './surface.ts';

export interface CameraContext {
  model: CameraModel;
  surface: Surface;
  state: ConfigState;
  tableSections: Map<string, string>;   // sections named by the seed files, for tables the matrix does not name
  answers: Answers;
  clock: CameraClock;
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

export function sectionSupported(camera: Pick<CameraContext, 'surface' | 'model'>, section: string): boolean {
  const support = camera.surface.sectionSupport.get(section);
  return support ? support[camera.model] : true;
}
