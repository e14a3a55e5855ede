// Routing of an authorized request: the route from the support matrix, the model's Yes/N/A,
// required parameters, then the behaviour or the document's example answer.
import { findAnswer } from './answers.ts';
import { routeSupported, type CameraContext, type CgiHandler } from './camera.ts';
import * as configManager from './config-manager.ts';
import * as events from './events.ts';
import * as finders from './finders.ts';
import * as media from './media.ts';
import * as ptz from './ptz.ts';
import * as streams from './streams.ts';
import { safeParseRequestUrl } from './query.ts';
import { cameraError, text, type Reply } from './replies.ts';
import * as system from './system.ts';
import { matchRoute } from './surface.ts';
import * as users from './users.ts';

interface Behaviour {
  handle: CgiHandler;
  perTableSupport?: boolean;   // the handler checks the model's support per config table
  ownRequired?: boolean;       // the handler checks its parameters (the syntax lists optional ones as required)
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
  ['/cgi-bin/ptz.cgi?action=getPresets', { handle: ptz.getPresets }],
  ['/cgi-bin/ptz.cgi?action=getTours', { handle: ptz.getTours }],
  ['/cgi-bin/ptz.cgi?action=getStatus', { handle: ptz.getStatus }],
  ['/cgi-bin/ptz.cgi?action=start', { handle: ptz.start }],
  ['/cgi-bin/ptz.cgi?action=stop', { handle: ptz.stop }],
  ['/cgi-bin/ptzBase.cgi?action=moveDirectly', { handle: ptz.moveDirectly }],
  ['/cgi-bin/userManager.cgi?action=getUserInfo', { handle: users.getUserInfo }],
  ['/cgi-bin/userManager.cgi?action=getUserInfoAll', { handle: users.getUserInfoAll }],
  ['/cgi-bin/userManager.cgi?action=getGroupInfo', { handle: users.getGroupInfo }],
  ['/cgi-bin/userManager.cgi?action=getGroupInfoAll', { handle: users.getGroupInfoAll }],
  ['/cgi-bin/userManager.cgi?action=addUser', { handle: users.addUser }],
  ['/cgi-bin/userManager.cgi?action=deleteUser', { handle: users.deleteUser }],
  ['/cgi-bin/userManager.cgi?action=modifyUser', { handle: users.modifyUser, ownRequired: true }],
  ['/cgi-bin/userManager.cgi?action=modifyPassword', { handle: users.modifyPassword }],
  ['/cgi-bin/mediaFileFind.cgi?action=factory.create', { handle: finders.createMediaFinder }],
  ['/cgi-bin/mediaFileFind.cgi?action=findFile', { handle: finders.findFile }],
  ['/cgi-bin/mediaFileFind.cgi?action=findNextFile', { handle: finders.findNextFile }],
  ['/cgi-bin/mediaFileFind.cgi?action=close', { handle: finders.closeMediaFinder }],
  ['/cgi-bin/mediaFileFind.cgi?action=destroy', { handle: finders.destroyMediaFinder }],
  ['/cgi-bin/log.cgi?action=startFind', { handle: finders.startLogFind }],
  ['/cgi-bin/log.cgi?action=doFind', { handle: finders.doLogFind }],
  ['/cgi-bin/log.cgi?action=stopFind', { handle: finders.stopLogFind }],
  ['/cgi-bin/log.cgi?action=clear', { handle: finders.clearLog }],
  ['/cgi-bin/eventManager.cgi?action=getEventIndexes', { handle: events.getEventIndexes }],
  ['/cgi-bin/eventManager.cgi?action=attach', { handle: events.attach }],
  ['/cgi-bin/realmonitor.cgi?action=getStream', { handle: streams.realmonitor }],
  ['/cgi-bin/playBack.cgi?action=getStream', { handle: streams.playbackStream }],
  ['/cgi-bin/playBack.cgi?action=control', { handle: streams.playbackControl }],
  ['/cgi-bin/audio.cgi?action=getAudio', { handle: streams.getAudio }],
  ['/cgi-bin/audio.cgi?action=postAudio', { handle: streams.postAudio }],
  ['/cgi-bin/loadfile.cgi?action=startLoad', { handle: streams.loadFile }],
  ['/cgi-bin/Log.backup?action=All', { handle: streams.logBackup }],
  ['/cgi-bin/snapshot.cgi?action=', { handle: media.snapshot }],
  ['/cgi-bin/mjpg/video.cgi?action=', { handle: media.mjpeg }],
]);

export function dispatch(method: string, rawUrl: string, camera: CameraContext): Reply {
  const url = safeParseRequestUrl(rawUrl);
  if (!url) return text('400 Bad Request', 400);
  const match = matchRoute(camera.surface, url.path, (k) => url.get(k));
  if (match.kind === 'unknownPath') return text('404 Not Found', 404);
  if (match.kind === 'noRoute') return cameraError(match.missingAction ? 1 : 2);
  const { route } = match;
  const behaviour = behaviours.get(`${url.path}?action=${url.get('action') ?? ''}`);
  if (!behaviour?.perTableSupport && !routeSupported(camera, route)) return cameraError(3);
  if (!behaviour?.ownRequired && route.required.some((k) => !url.get(k))) return cameraError(1);
  if (behaviour) return behaviour.handle({ method, rawUrl, url, route, camera });
  const answer = findAnswer(camera.answers, url);
  if (answer) return text(answer.body);
  // A request of the surface that the simulator cannot answer yet: say so in the camera's own terms.
  return cameraError(5);
}
