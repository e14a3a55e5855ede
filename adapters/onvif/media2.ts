// ONVIF media2 service. (Skeleton: being written.)
import { NS } from './soap.ts';
import type { OnvifService } from './service.ts';
import { el } from './xml.ts';

export const media2Service: OnvifService = {
  key: 'media2',
  ns: NS.tr2,
  path: 'media2_service',
  version: { major: 2, minor: 6 },
  available: async () => true,
  capabilities: async () => el('tr2:Capabilities'),
  operations: [],
};
