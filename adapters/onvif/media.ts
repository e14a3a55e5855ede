// ONVIF media service. (Skeleton: being written.)
import { NS } from './soap.ts';
import type { OnvifService } from './service.ts';
import { el } from './xml.ts';

export const mediaService: OnvifService = {
  key: 'media',
  ns: NS.trt,
  path: 'media_service',
  version: { major: 2, minor: 6 },
  available: async () => true,
  capabilities: async () => el('trt:Capabilities'),
  operations: [],
};
