// SOAP envelopes (pure): reading a request envelope, writing answers and faults in SOAP 1.2 (the
// default) or 1.1 (to a 1.1 request), with every prefix the services use declared once on the
// Envelope (design.md §6: clients look prefixes up there).
import { child, el, parseXml, renderXml, XmlError, type XmlChild, type XmlNode } from './xml.ts';

export const NS = {
  soap12: 'http://www.w3.org/2003/05/soap-envelope',
  soap11: 'http://schemas.xmlsoap.org/soap/envelope/',
  xsi: 'http://www.w3.org/2001/XMLSchema-instance',
  xs: 'http://www.w3.org/2001/XMLSchema',
  tt: 'http://www.onvif.org/ver10/schema',
  ter: 'http://www.onvif.org/ver10/error',
  tds: 'http://www.onvif.org/ver10/device/wsdl',
  trt: 'http://www.onvif.org/ver10/media/wsdl',
  tr2: 'http://www.onvif.org/ver20/media/wsdl',
  timg: 'http://www.onvif.org/ver20/imaging/wsdl',
  tptz: 'http://www.onvif.org/ver20/ptz/wsdl',
  tev: 'http://www.onvif.org/ver10/events/wsdl',
  tmd: 'http://www.onvif.org/ver10/deviceIO/wsdl',
  wsnt: 'http://docs.oasis-open.org/wsn/b-2',
  wstop: 'http://docs.oasis-open.org/wsn/t-1',
  wsrfbf: 'http://docs.oasis-open.org/wsrf/bf-2',
  wsa: 'http://www.w3.org/2005/08/addressing',
  tns1: 'http://www.onvif.org/ver10/topics',
  wsse: 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd',
  wsu: 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd',
} as const;

/** The prefixes declared on every answer's Envelope (the envelope's own prefix is `s`). */
const DECLARED = ['xsi', 'xs', 'tt', 'ter', 'tds', 'trt', 'tr2', 'timg', 'tptz', 'tev', 'tmd', 'wsnt', 'wstop', 'wsa', 'tns1'] as const;

export type SoapVersion = '1.1' | '1.2';

export interface SoapRequest {
  version: SoapVersion;
  header: XmlNode | undefined;
  /** The first element inside Body: the operation. */
  body: XmlNode;
}

export const CONTENT_TYPE: Record<SoapVersion, string> = {
  '1.2': 'application/soap+xml; charset=utf-8',
  '1.1': 'text/xml; charset=utf-8',
};

export type FaultCode = 'Sender' | 'Receiver';

/**
 * A SOAP Fault with ONVIF subcodes (`ter:NotAuthorized`, `ter:InvalidArgVal`, ...). The HTTP status
 * follows the SOAP 1.2 HTTP binding: 400 for Sender, 500 for Receiver, unless given.
 */
export class OnvifFault extends Error {
  override name = 'OnvifFault';
  constructor(
    readonly code: FaultCode,
    readonly subcodes: readonly string[],
    readonly reason: string,
    readonly httpStatus: number = code === 'Sender' ? 400 : 500,
  ) {
    super(reason);
  }
}

/** `Sender` + `ter:InvalidArgVal` (+ a more precise subcode): the common "bad argument" fault. */
export function invalidArg(reason: string, subcode?: string): OnvifFault {
  return new OnvifFault('Sender', subcode ? ['ter:InvalidArgVal', subcode] : ['ter:InvalidArgVal'], reason);
}

/** Reads an envelope of either version; anything else is a `ter:WellFormed` (or version) fault. */
export function parseEnvelope(xml: string): SoapRequest {
  let root: XmlNode;
  try {
    root = parseXml(xml);
  } catch (err) {
    const reason = err instanceof XmlError ? err.message : 'not well-formed XML';
    throw new OnvifFault('Sender', ['ter:WellFormed'], reason);
  }
  if (root.local !== 'Envelope' || (root.ns !== NS.soap12 && root.ns !== NS.soap11)) {
    throw new OnvifFault('Sender', ['ter:WellFormed'], 'the document is not a SOAP Envelope');
  }
  const version: SoapVersion = root.ns === NS.soap11 ? '1.1' : '1.2';
  const body = child(root, 'Body', root.ns);
  const operation = body?.children[0];
  if (!operation) throw new OnvifFault('Sender', ['ter:WellFormed'], 'the Envelope has no Body element with an operation');
  return { version, header: child(root, 'Header', root.ns), body: operation };
}

function envelopeAttrs(version: SoapVersion): Record<string, string> {
  const attrs: Record<string, string> = { 'xmlns:s': version === '1.1' ? NS.soap11 : NS.soap12 };
  for (const p of DECLARED) attrs[`xmlns:${p}`] = NS[p];
  return attrs;
}

export function renderEnvelope(version: SoapVersion, body: XmlChild, header?: XmlChild): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    renderXml(el('s:Envelope', [header === undefined ? undefined : el('s:Header', header), el('s:Body', body)], envelopeAttrs(version)))
  );
}

export function renderFault(version: SoapVersion, fault: OnvifFault, header?: XmlChild): string {
  if (version === '1.1') {
    // SOAP 1.1 has no subcodes: the most precise one becomes the faultcode.
    const code = fault.subcodes.at(-1) ?? (fault.code === 'Sender' ? 's:Client' : 's:Server');
    return renderEnvelope(version, el('s:Fault', [el('faultcode', code), el('faultstring', fault.reason)]), header);
  }
  let subcode: XmlChild = undefined;
  for (const sc of [...fault.subcodes].reverse()) subcode = el('s:Subcode', [el('s:Value', sc), subcode]);
  return renderEnvelope(
    version,
    el('s:Fault', [
      el('s:Code', [el('s:Value', `s:${fault.code}`), subcode]),
      el('s:Reason', el('s:Text', fault.reason, { 'xml:lang': 'en' })),
    ]),
    header,
  );
}

const ADDRESSING_FAULT = 'http://www.w3.org/2005/08/addressing/soap/fault';

/**
 * WS-Addressing headers of the answer to a request that carried wsa:Action (event clients, WCF and
 * the ONVIF test tool check them): the reply Action (`...Request` → `...Response`, the WSDLs'
 * convention) and RelatesTo the request's MessageID. Nothing for requests without WS-Addressing.
 */
export function addressingReply(header: XmlNode | undefined, fault: boolean): XmlChild {
  const action = child(header, 'Action', NS.wsa)?.text;
  if (!action || action.length > 1024) return undefined;
  const messageId = child(header, 'MessageID', NS.wsa)?.text;
  const reply = fault ? ADDRESSING_FAULT : action.endsWith('Request') ? `${action.slice(0, -'Request'.length)}Response` : `${action}Response`;
  return [el('wsa:Action', reply), messageId && messageId.length <= 1024 ? el('wsa:RelatesTo', messageId) : undefined];
}
