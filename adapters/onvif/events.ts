// ONVIF events service. (Skeleton: being written.)
import { NS } from './soap.ts';
import type { OnvifService } from './service.ts';
import { el } from './xml.ts';

export const eventsService: OnvifService = {
  key: 'events',
  ns: NS.tev,
  path: 'events_service',
  version: { major: 2, minor: 6 },
  available: async () => true,
  capabilities: async () => el('tev:Capabilities'),
  operations: [],
};
