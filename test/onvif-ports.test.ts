// A camera with an ONVIF port of its own (`cameras[].onvifPort`): for clients that keep one device
// per address, `/onvif/device_service` on that port is that camera, its XAddrs carry that port,
// and nothing else of the gateway is reachable there.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { NS } from '../adapters/onvif/soap.ts';
import { cameraPortPath } from '../gateway/onvif-ports.ts';
import { startGateway, type RunningGateway } from '../gateway/gateway.ts';
import { createLogger } from '../gateway/logger.ts';
import { startSimulator, type Simulator } from '../simulator/server.ts';
import { envelope, op, readAnswer } from './onvif-client.ts';
import { USERS } from './stack.ts';

describe('camera ONVIF ports', () => {
  it('rewrites only that camera\'s ONVIF paths', () => {
    assert.equal(cameraPortPath('/onvif/device_service', 'lobby'), '/onvif/lobby/device_service');
    assert.equal(cameraPortPath('/onvif/device_service?x=1', 'lobby'), '/onvif/lobby/device_service?x=1');
    assert.equal(cameraPortPath('/onvif/lobby/media_service', 'lobby'), '/onvif/lobby/media_service');
    assert.equal(cameraPortPath('/onvif/yard/device_service', 'lobby'), undefined);
    assert.equal(cameraPortPath('/api/v1/cameras', 'lobby'), undefined);
    assert.equal(cameraPortPath('/onvif/lobby', 'lobby'), undefined);
  });

  describe('a gateway with two cameras, one on its own port', () => {
    let sims: Simulator[];
    let gw: RunningGateway;
    before(async () => {
      sims = await Promise.all([startSimulator({ password: 'cam-pass-1' }), startSimulator({ password: 'cam-pass-2' })]);
      gw = await startGateway(
        {
          host: '127.0.0.1',
          port: 0,
          cameras: [
            { id: 'lobby', baseUrl: sims[0]!.url, username: 'admin', password: 'cam-pass-1', model: 'WV-V2530LK', onvifPort: 0 },
            { id: 'yard', baseUrl: sims[1]!.url, username: 'admin', password: 'cam-pass-2', model: 'WV-V2530LK' },
          ],
          users: [USERS.admin],
          tokens: [],
          docsPublic: true,
          logLevel: 'silent',
          discovery: false,
        },
        createLogger('silent'),
      );
    });
    after(async () => {
      await gw.stop();
      await Promise.all(sims.map((s) => s.close()));
    });

    const post = async (url: string, body: string) => {
      const res = await request(url, { method: 'POST', headers: { 'content-type': 'application/soap+xml' }, body: envelope(body) });
      const text = await res.body.text();
      return readAnswer(res.statusCode, res.headers as Record<string, string>, text);
    };

    it('serves the camera\'s device service at /onvif/device_service, with XAddrs on its port', async () => {
      assert.equal(gw.cameraPorts.length, 1);
      const { cameraId, port } = gw.cameraPorts[0]!;
      assert.equal(cameraId, 'lobby');
      assert.ok(port > 0 && !gw.url.endsWith(`:${port}`));
      const caps = await post(`http://127.0.0.1:${port}/onvif/device_service`, op('tds', NS.tds, 'GetCapabilities', '<tds:Category>All</tds:Category>'));
      assert.equal(caps.status, 200, caps.text);
      const xaddrs = [...caps.text.matchAll(/<tt:XAddr>([^<]+)<\/tt:XAddr>/g)].map((m) => m[1]!);
      assert.ok(xaddrs.length >= 3, caps.text);
      for (const x of xaddrs) assert.match(x, new RegExp(`^http://127\\.0\\.0\\.1:${port}/onvif/lobby/`));
      // The services it advertises answer on that port.
      const media = xaddrs.find((x) => x.endsWith('/media_service'))!;
      const sdt = await post(media, op('tds', NS.tds, 'GetSystemDateAndTime'));
      assert.equal(sdt.status, 200);
    });

    it('keeps everything else of the gateway off that port', async () => {
      const { port } = gw.cameraPorts[0]!;
      for (const path of ['/api/v1/cameras', '/onvif/yard/device_service', '/docs/', '/metrics']) {
        const res = await request(`http://127.0.0.1:${port}${path}`);
        await res.body.dump();
        assert.equal(res.statusCode, 404, path);
      }
      // The main listener still serves both cameras.
      const yard = await post(`${gw.url}/onvif/yard/device_service`, op('tds', NS.tds, 'GetSystemDateAndTime'));
      assert.equal(yard.status, 200);
    });
  });
});
