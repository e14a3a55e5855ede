// ONVIF imaging service. (Skeleton: being written.)
import { NS } from './soap.ts';
import type { OnvifService } from './service.ts';
import { el } from './xml.ts';

export const imagingService: OnvifService = {
  key: 'imaging',
  ns: NS.timg,
  path: 'imaging_service',
  version: { major: 2, minor: 6 },
  available: async () => true,
  capabilities: async () => el('timg:Capabilities'),
  operations: [],
};
