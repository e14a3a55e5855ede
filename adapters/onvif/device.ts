// ONVIF device service. (Skeleton: being written.)
import { NS } from './soap.ts';
import type { OnvifService } from './service.ts';
import { el } from './xml.ts';

export const deviceService: OnvifService = {
  key: 'device',
  ns: NS.tds,
  path: 'device_service',
  version: { major: 2, minor: 6 },
  available: async () => true,
  capabilities: async () => el('tds:Capabilities'),
  operations: [],
};
