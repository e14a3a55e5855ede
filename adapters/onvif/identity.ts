// A camera's ONVIF identity: a stable endpoint reference (UUIDv5 of the camera id in camgate's
// namespace), so clients that key devices on it never merge two cameras and keep one camera across
// restarts and address changes.
import { createHash } from 'node:crypto';

/** camgate's own UUID namespace for UUIDv5 names (random, fixed forever). */
const CAMGATE_NAMESPACE = 'a7c3f1e2-5b64-4d0e-9b7a-3c2f8e1d6a90';

export function uuidV5(name: string, namespace = CAMGATE_NAMESPACE): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  const hash = createHash('sha1').update(Buffer.concat([ns, Buffer.from(name, 'utf8')])).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const h = hash.subarray(0, 16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** `urn:uuid:...`, the WS-Addressing endpoint reference of WS-Discovery and GetEndpointReference. */
export function endpointReference(cameraId: string): string {
  return `urn:uuid:${uuidV5(`camera:${cameraId}`)}`;
}

/**
 * A locally administered unicast MAC derived from the camera id: used where the camera's own
 * hardware address is unknown or shared with another camera of the fleet (simulators, clones).
 */
export function derivedHwAddress(cameraId: string): string {
  const h = createHash('sha1').update(`hw:${cameraId}`).digest();
  h[0] = (h[0]! & 0xfc) | 0x02;
  return [...h.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}
