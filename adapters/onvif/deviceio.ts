// ONVIF deviceio service. (Skeleton: being written.)
import { NS } from './soap.ts';
import type { OnvifService } from './service.ts';
import { el } from './xml.ts';

export const deviceIoService: OnvifService = {
  key: 'deviceio',
  ns: NS.tmd,
  path: 'deviceio_service',
  version: { major: 2, minor: 6 },
  available: async () => true,
  capabilities: async () => el('tmd:Capabilities'),
  operations: [],
};
