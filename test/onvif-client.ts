// A small SOAP caller for ONVIF tests: builds the envelope a client would send (SOAP 1.2 by
// default, a WS-UsernameToken signed now), posts it to an app through supertest and reads the
// answer with the gateway's own strict XML reader.
import { randomBytes } from 'node:crypto';
import type { Express } from 'express';
import request from 'supertest';
import { NS } from '../adapters/onvif/soap.ts';
import { usernameTokenXml } from '../adapters/onvif/wsse.ts';
import { child, parseXml, type XmlNode } from '../adapters/onvif/xml.ts';

export interface SoapCallOptions {
  /** Gateway user for a UsernameToken; none = no credentials. */
  user?: { name: string; password: string };
  /** `Created` of the token (default: now). */
  created?: string;
  nonce?: Buffer;
  version?: '1.1' | '1.2';
  /** Extra raw XML inside the SOAP Header. */
  header?: string;
  /** Path below the app (default `/onvif/cam1/device_service`). */
  path?: string;
}

export interface SoapAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The first element of the Body (the response, or the Fault). */
  body: XmlNode;
  /** Fault subcodes, innermost last (`['ter:NotAuthorized']`), when the answer is a 1.2 Fault. */
  subcodes: string[];
}

/** `body` is the operation element with its namespace declared, e.g. `<tds:GetHostname xmlns:tds="..."/>`. */
export function envelope(body: string, options: SoapCallOptions = {}): string {
  const envNs = options.version === '1.1' ? NS.soap11 : NS.soap12;
  let header = options.header ?? '';
  if (options.user) {
    const created = options.created ?? new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    header += usernameTokenXml(options.user.name, options.user.password, created, options.nonce ?? randomBytes(16));
  }
  return `<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="${envNs}"><s:Header>${header}</s:Header><s:Body>${body}</s:Body></s:Envelope>`;
}

export async function soapCall(app: Express, body: string, options: SoapCallOptions = {}): Promise<SoapAnswer> {
  const res = await request(app)
    .post(options.path ?? '/onvif/cam1/device_service')
    .set('Content-Type', options.version === '1.1' ? 'text/xml; charset=utf-8' : 'application/soap+xml; charset=utf-8')
    .send(envelope(body, options));
  return readAnswer(res.status, res.headers, res.text);
}

export function readAnswer(status: number, headers: Record<string, string | string[] | undefined>, text: string): SoapAnswer {
  const root = parseXml(text);
  const bodyEl = root.children.find((c) => c.local === 'Body');
  const first = bodyEl?.children[0];
  if (!first) throw new Error(`no Body element in ${text.slice(0, 200)}`);
  const subcodes: string[] = [];
  let sc = child(child(first, 'Code'), 'Subcode');
  while (sc) {
    subcodes.push(child(sc, 'Value')?.text ?? '');
    sc = child(sc, 'Subcode');
  }
  return { status, headers, text, body: first, subcodes };
}

/** `<p:Name xmlns:p="ns">inner</p:Name>` */
export function op(prefix: string, ns: string, name: string, inner = ''): string {
  return `<${prefix}:${name} xmlns:${prefix}="${ns}" xmlns:tt="${NS.tt}">${inner}</${prefix}:${name}>`;
}
