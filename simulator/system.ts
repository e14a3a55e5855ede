// System CGIs with behaviour: the clock, reboot/shutdown, and the config backup download.
import { toBackupDocument } from './backup.ts';
import type { CgiHandler } from './camera.ts';
import { formatCameraTime, parseCameraTime } from './clock.ts';
import { cameraError, ok, text } from './replies.ts';

export const getCurrentTime: CgiHandler = ({ camera }) =>
  text(`result=${formatCameraTime(camera.clock.current())}`);

export const setCurrentTime: CgiHandler = ({ url, camera }) => {
  const time = parseCameraTime(url.get('time') ?? '');
  if (!time) return cameraError(4);
  camera.clock.set(time);
  return ok();
};

export const reboot: CgiHandler = ({ url, camera }) => {
  const delay = url.get('delay');
  if (delay !== undefined && !/^\d{1,5}$/.test(delay)) return cameraError(4);
  return { ...ok(), afterSend: () => camera.reboot(delay === undefined ? 0 : Number(delay)) };
};

export const shutdown: CgiHandler = () => ok();

export const configBackup: CgiHandler = ({ camera }) => ({
  status: 200,
  headers: {
    'Content-Type': 'application/octet-stream',
    'Content-Disposition': 'attachment; filename="Config.Backup"',
  },
  body: Buffer.from(JSON.stringify(toBackupDocument(camera.state.entries()), null, 3) + '\n', 'utf8'),
});
