// ONVIF ptz service. (Skeleton: being written.)
import { NS } from './soap.ts';
import type { OnvifService } from './service.ts';
import { el } from './xml.ts';

export const ptzService: OnvifService = {
  key: 'ptz',
  ns: NS.tptz,
  path: 'ptz_service',
  version: { major: 2, minor: 6 },
  available: async () => true,
  capabilities: async () => el('tptz:Capabilities'),
  operations: [],
};
