// Every ONVIF service camgate serves, in the order GetServices lists them.
import { deviceService } from './device.ts';
import { deviceIoService } from './deviceio.ts';
import { eventsService } from './events.ts';
import { imagingService } from './imaging.ts';
import { mediaService } from './media.ts';
import { media2Service } from './media2.ts';
import { ptzService } from './ptz.ts';
import type { OnvifService } from './service.ts';

export const onvifServices: readonly OnvifService[] = [deviceService, mediaService, media2Service, imagingService, eventsService, deviceIoService, ptzService];
