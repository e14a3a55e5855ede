// Routing of an authorized request: the route from the support matrix, the model's Yes/N/A,
// required parameters, then the behaviour or the document's example answer.
import { findAnswer } from './answers.ts';
import type { CameraContext, CgiHandler } from './camera.ts';
import * as configManager from './config-manager.ts';
import { safeParseRequestUrl } from './query.ts';
import { cameraError, text, type Reply } from './replies.ts';
import * as system from './system.ts';
import { matchRoute } from './surface.ts';

interface Behaviour {
  handle: CgiHandler;
  perTableSupport?: boolean;   // the handler checks the model's support per config table
}

// Keyed by `<path>?action=<action>`.
export const behaviours = new Map<string, Behaviour>([
  ['/cgi-bin/configManager.cgi?action=getConfig', { handle: configManager.getConfig, perTableSupport: true }],
  ['/cgi-bin/configManager.cgi?action=setConfig', { handle: configManager.setConfig, perTableSupport: true }],
  ['/cgi-bin/configManager.cgi?action=restore', { handle: configManager.restore }],
  ['/cgi-bin/configManager.cgi?action=restoreExcept', { handle: configManager.restoreExcept }],
  ['/cgi-bin/global.cgi?action=getCurrentTime', { handle: system.getCurrentTime }],
  ['/cgi-bin/global.cgi?action=setCurrentTime', { handle: system.setCurrentTime }],
  ['/cgi-bin/magicBox.cgi?action=reboot', { handle: system.reboot }],
  ['/cgi-bin/magicBox.cgi?action=shutdown', { handle: system.shutdown }],
  ['/cgi-bin/Config.backup?action=All', { handle: system.configBackup }],
]);

export function dispatch(method: string, rawUrl: string, camera: CameraContext): Reply {
  const url = safeParseRequestUrl(rawUrl);
  if (!url) return text('400 Bad Request', 400);
  const match = matchRoute(camera.surface, url.path, (k) => url.get(k));
  if (match.kind === 'unknownPath') return text('404 Not Found', 404);
  if (match.kind === 'noRoute') return cameraError(match.missingAction ? 1 : 2);
  const { route } = match;
  const behaviour = behaviours.get(`${url.path}?action=${url.get('action') ?? ''}`);
  if (!behaviour?.perTableSupport && !route.support[camera.model]) return cameraError(3);
  if (route.required.some((k) => !url.get(k))) return cameraError(1);
  if (behaviour) return behaviour.handle({ method, rawUrl, url, route, camera });
  const answer = findAnswer(camera.answers, url);
  if (answer) return text(answer.body);
  // A request of the surface that the simulator cannot answer yet: say so in the camera's own terms.
  return cameraError(5);
}
