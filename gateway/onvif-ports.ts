// One listener per camera that asks for its own ONVIF port (`cameras[].onvifPort`): some VMS
// (and NVRs) keep one device per IP address and port and ignore the path. On such a port
// `/onvif/device_service` is that camera's device service, its other services are at their usual
// `/onvif/{cameraId}/...` paths (the XAddrs carry this port, from the Host header), and nothing
// else of the gateway is reachable.
import { createServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from './logger.ts';

export interface CameraPort {
  cameraId: string;
  port: number;
}

export interface CameraPortListener extends CameraPort {
  server: Server;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Rewrites a request on a camera's own port to the gateway path; undefined when it is not an ONVIF path of that camera. */
export function cameraPortPath(url: string, cameraId: string): string | undefined {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q);
  if (path === '/onvif/device_service' || path === '/onvif/device_service/') return `/onvif/${cameraId}/device_service${query}`;
  if (path.startsWith(`/onvif/${cameraId}/`)) return url;
  return undefined;
}

/** `options`: the main listener's timeouts (slowloris limits hold on these ports too). */
export async function startCameraPorts(ports: readonly CameraPort[], host: string, app: Handler, logger: Logger, options: ServerOptions = {}): Promise<CameraPortListener[]> {
  const started: CameraPortListener[] = [];
  try {
    for (const { cameraId, port } of ports) {
      const server = createServer(options, (req, res) => {
        const rewritten = cameraPortPath(req.url ?? '/', cameraId);
        if (rewritten === undefined) {
          res.statusCode = 404;
          res.setHeader('Content-Type', 'text/plain; charset=utf-8');
          res.end(`only ${cameraId}'s ONVIF services are served on this port\n`);
          return;
        }
        req.url = rewritten;
        app(req, res);
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolve());
      });
      started.push({ cameraId, port: (server.address() as AddressInfo).port, server });
      logger.info({ camera: cameraId, port: (server.address() as AddressInfo).port }, 'camera ONVIF port listening');
    }
  } catch (err) {
    await stopCameraPorts(started);
    throw err;
  }
  return started;
}

export async function stopCameraPorts(listeners: readonly CameraPortListener[]): Promise<void> {
  await Promise.all(
    listeners.map(
      (l) =>
        new Promise<void>((resolve) => {
          l.server.close(() => resolve());
          l.server.closeIdleConnections();
        }),
    ),
  );
}
