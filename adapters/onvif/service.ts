// What an ONVIF service module provides, and what each operation is given. The router
// (router.ts) owns parsing, auth and faults; service modules only turn a request element into a
// response element through the camera layer.
import type { Principal, UserStore } from '../../gateway/auth.ts';
import type { RateLimiter } from '../../gateway/rate-limit.ts';
import type { CameraEntry, CameraRegistry } from '../../gateway/cameras.ts';
import type { Logger } from '../../gateway/logger.ts';
import type { SoapVersion } from './soap.ts';
import type { XmlChild, XmlNode, XmlOut } from './xml.ts';

/**
 * Who may call an operation (ONVIF Core access classes, folded onto the gateway's roles):
 * preauth = anyone (the Core pre-auth set), viewer = ONVIF User (READ_*), operator = Operator
 * (ACTUATE), admin = Administrator (WRITE_SYSTEM, UNRECOVERABLE).
 */
export type Access = 'preauth' | 'viewer' | 'operator' | 'admin';

export type ServiceKey = 'device' | 'media' | 'media2' | 'imaging' | 'events' | 'deviceio' | 'ptz';

export interface OnvifContext {
  /** The camera this endpoint fronts. */
  entry: CameraEntry;
  cameras: CameraRegistry;
  users: UserStore;
  /** Undefined only for pre-auth operations called without credentials. */
  principal: Principal | undefined;
  /** `http://host:port` as the client reached the gateway (or the configured public address). */
  origin: string;
  /** The XAddr of one of this camera's services: `${origin}/onvif/${entry.id}/${path}`. */
  xaddr(service: ServiceKey): string;
  /** The request path below the camera's prefix (`events_service`, `subscription/<id>`). */
  subpath: string;
  version: SoapVersion;
  header: XmlNode | undefined;
  /** Aborted when the client goes away (long pulls end early). */
  signal: AbortSignal;
  now(): number;
  /** Every registered service, for GetServices / GetCapabilities. */
  services: readonly OnvifService[];
  logger: Logger;
  /** The gateway's token buckets, shared with REST (PTZ moves take a 'ptz' token); absent in bare routers. */
  rateLimiter?: RateLimiter;
}

export interface OnvifOperation {
  /** Local name of the request element in the service's namespace (`GetProfiles`). */
  name: string;
  /** The request element's namespace when it is not the service's (events: wsnt:Subscribe, wsnt:Renew). */
  ns?: string;
  access: Access;
  /** Returns the whole response element (`el('trt:GetProfilesResponse', ...)`). */
  handle(request: XmlNode, ctx: OnvifContext): Promise<XmlChild>;
}

export interface OnvifService {
  key: ServiceKey;
  /** Namespace of the service's WSDL (`NS.trt`). */
  ns: string;
  /** The path segment after `/onvif/{cameraId}/` (`media_service`). */
  path: string;
  version: { major: number; minor: number };
  /** Whether this camera has the service (PTZ only with a PTZ head). Called per request: cache inside. */
  available(ctx: OnvifContext): Promise<boolean>;
  /** The service's `Capabilities` element in its own namespace (GetServices IncludeCapability, GetServiceCapabilities). */
  capabilities(ctx: OnvifContext): Promise<XmlOut>;
  operations: readonly OnvifOperation[];
  /** Ends long-lived state (subscriptions, pulls) at gateway stop or camera removal. */
  close?(entry?: CameraEntry): Promise<void> | void;
}
