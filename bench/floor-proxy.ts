// The floor for a Node gateway on this machine: a bare http server that relays one camera read
// through the same CameraClient (digest, keep-alive) and answers the text. No routing, auth,
// validation or typing — what is left is Node's HTTP and socket cost. Kept in bench/ only.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CameraClient } from '../adapters/cgi/client.ts';

const camera = new URL(process.env.CAMERA_URL!);
const client = new CameraClient({
  baseUrl: `${camera.protocol}//${camera.host}`,
  username: decodeURIComponent(camera.username),
  password: decodeURIComponent(camera.password),
});
const server = createServer(async (req, res) => {
  const name = req.url === '/alarm' ? 'Alarm' : 'General';
  const r = await client.request({ path: '/cgi-bin/configManager.cgi', query: `action=getConfig&name=${name}`, read: true });
  res.writeHead(200, { 'content-type': 'text/plain' }).end(r.body);
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`floor proxy listening on http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
