// Validates the Body content of SOAP answers against the official ONVIF XSDs and WSDL schemas in
// ../shared/onvif with xmllint. The files stay unmodified: they are copied to a temp tree that
// keeps their relative layout (the WSDL-embedded schemas extracted to .xsd files, so
// `../../../ver10/schema/onvif.xsd` still resolves), and an XML catalog maps the absolute import
// URLs to external/<host>/<path> and the SOAP 1.2 envelope to the stub.
// libxml2 enforces Unique Particle Attribution, which a few ONVIF extension types break (an
// optional tt: element followed by <xs:any namespace="##targetNamespace">): in the temp copies
// only, such a wildcard becomes ##other (stricter for us: no unknown tt: extensions), found by
// compiling and listed in `schemaPatches`.
// CLI: node --import tsx test/interop/xsd.ts answer.xml [more.xml ...]
import { execFile, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ONVIF_DIR = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../../shared/onvif');

export interface XsdResult {
  ok: boolean;
  errors: string[];
}

const WRAPPER_NS = 'urn:camgate:interop:body';
const SOAP12 = 'http://www.w3.org/2003/05/soap-envelope';
const SOAP11 = 'http://schemas.xmlsoap.org/soap/envelope/';

/** WSDLs whose embedded schema declares a service namespace (path below wsdl/). */
const WSDLS = [
  'ver10/device/wsdl/devicemgmt.wsdl',
  'ver10/deviceio.wsdl',
  'ver10/media/wsdl/media.wsdl',
  'ver20/media/wsdl/media.wsdl',
  'ver20/imaging/wsdl/imaging.wsdl',
  'ver20/ptz/wsdl/ptz.wsdl',
  'ver10/events/wsdl/event.wsdl',
];

interface Setup {
  dir: string;
  schema: string;
  env: NodeJS.ProcessEnv;
}

let setup: Setup | undefined;

function prepare(): Setup {
  if (setup) return setup;
  if (!existsSync(join(ONVIF_DIR, 'wsdl/ver10/schema/onvif.xsd'))) {
    throw new Error(`ONVIF schemas not found at ${ONVIF_DIR} (the interop suite needs ../shared/onvif)`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'camgate-xsd-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'wsdl/ver10/schema'), { recursive: true });
  for (const f of ['onvif.xsd', 'common.xsd']) copyFileSync(join(ONVIF_DIR, 'wsdl/ver10/schema', f), join(dir, 'wsdl/ver10/schema', f));

  const imports: string[] = [];
  for (const rel of WSDLS) {
    const { xsd, targetNamespace } = extractSchema(readFileSync(join(ONVIF_DIR, 'wsdl', rel), 'utf8'), rel);
    const out = join(dir, 'wsdl', rel.replace(/\.wsdl$/, '.xsd'));
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, xsd);
    imports.push(`<xs:import namespace="${targetNamespace}" schemaLocation="${pathToFileURL(out).href}"/>`);
  }

  // SOAP Faults: a strict 1.2 Fault element (the stub only has open types) and a 1.1 one.
  const fault12 = join(dir, 'soap12-fault.xsd');
  writeFileSync(fault12, `<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:env="${SOAP12}" targetNamespace="${SOAP12}" elementFormDefault="qualified">
  <xs:include schemaLocation="${pathToFileURL(join(ONVIF_DIR, 'stubs/soap12-envelope-stub.xsd')).href}"/>
  <xs:import namespace="http://www.w3.org/XML/1998/namespace" schemaLocation="http://www.w3.org/2001/xml.xsd"/>
  <xs:element name="Fault" type="env:StrictFault"/>
  <xs:complexType name="StrictFault"><xs:sequence>
    <xs:element name="Code" type="env:Faultcode"/>
    <xs:element name="Reason"><xs:complexType><xs:sequence>
      <xs:element name="Text" maxOccurs="unbounded"><xs:complexType><xs:simpleContent><xs:extension base="xs:string">
        <xs:attribute ref="xml:lang" use="required"/></xs:extension></xs:simpleContent></xs:complexType></xs:element>
    </xs:sequence></xs:complexType></xs:element>
    <xs:element name="Node" type="xs:anyURI" minOccurs="0"/>
    <xs:element name="Role" type="xs:anyURI" minOccurs="0"/>
    <xs:element name="Detail" minOccurs="0"><xs:complexType><xs:sequence>
      <xs:any namespace="##any" processContents="lax" minOccurs="0" maxOccurs="unbounded"/></xs:sequence>
      <xs:anyAttribute namespace="##other" processContents="lax"/></xs:complexType></xs:element>
  </xs:sequence></xs:complexType>
  <xs:complexType name="Faultcode"><xs:sequence>
    <xs:element name="Value"><xs:simpleType><xs:restriction base="xs:QName">
      <xs:enumeration value="env:DataEncodingUnknown"/><xs:enumeration value="env:MustUnderstand"/>
      <xs:enumeration value="env:Receiver"/><xs:enumeration value="env:Sender"/><xs:enumeration value="env:VersionMismatch"/>
    </xs:restriction></xs:simpleType></xs:element>
    <xs:element name="Subcode" type="env:Subcode" minOccurs="0"/>
  </xs:sequence></xs:complexType>
  <xs:complexType name="Subcode"><xs:sequence>
    <xs:element name="Value" type="xs:QName"/>
    <xs:element name="Subcode" type="env:Subcode" minOccurs="0"/>
  </xs:sequence></xs:complexType>
</xs:schema>
`);
  const fault11 = join(dir, 'soap11-fault.xsd');
  writeFileSync(fault11, `<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="${SOAP11}">
  <xs:element name="Fault"><xs:complexType><xs:sequence>
    <xs:element name="faultcode" type="xs:QName"/>
    <xs:element name="faultstring" type="xs:string"/>
    <xs:element name="faultactor" type="xs:anyURI" minOccurs="0"/>
    <xs:element name="detail" minOccurs="0"><xs:complexType><xs:sequence>
      <xs:any namespace="##any" processContents="lax" minOccurs="0" maxOccurs="unbounded"/></xs:sequence></xs:complexType></xs:element>
  </xs:sequence></xs:complexType></xs:element>
</xs:schema>
`);

  // The SOAP 1.2 namespace is imported first from our fault schema (which includes the stub), so
  // onvif.xsd's own import of it is skipped and resolves to the same types.
  const schema = join(dir, 'body.xsd');
  writeFileSync(schema, `<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="${WRAPPER_NS}" elementFormDefault="qualified">
  <xs:import namespace="${SOAP12}" schemaLocation="${pathToFileURL(fault12).href}"/>
  <xs:import namespace="${SOAP11}" schemaLocation="${pathToFileURL(fault11).href}"/>
  <xs:import namespace="http://www.onvif.org/ver10/schema" schemaLocation="${pathToFileURL(join(dir, 'wsdl/ver10/schema/onvif.xsd')).href}"/>
  ${imports.join('\n  ')}
  <xs:import namespace="http://docs.oasis-open.org/wsn/b-2" schemaLocation="http://docs.oasis-open.org/wsn/b-2.xsd"/>
  <xs:import namespace="http://docs.oasis-open.org/wsn/t-1" schemaLocation="http://docs.oasis-open.org/wsn/t-1.xsd"/>
  <xs:import namespace="http://www.w3.org/2005/08/addressing" schemaLocation="http://www.w3.org/2005/08/addressing/ws-addr.xsd"/>
  <xs:element name="Body"><xs:complexType><xs:sequence>
    <xs:any namespace="##other" processContents="strict" minOccurs="0" maxOccurs="unbounded"/>
  </xs:sequence></xs:complexType></xs:element>
</xs:schema>
`);

  const ext = pathToFileURL(join(ONVIF_DIR, 'external')).href;
  const stub = pathToFileURL(join(ONVIF_DIR, 'stubs/soap12-envelope-stub.xsd')).href;
  const rewrites = ['http://docs.oasis-open.org/', 'https://docs.oasis-open.org/', 'http://www.w3.org/', 'https://www.w3.org/']
    .map((prefix) => {
      const to = `${ext}/${prefix.replace(/^https?:\/\//, '')}`;
      return `<rewriteSystem systemIdStartString="${prefix}" rewritePrefix="${to}"/><rewriteURI uriStartString="${prefix}" rewritePrefix="${to}"/>`;
    });
  const catalog = join(dir, 'catalog.xml');
  writeFileSync(catalog, `<?xml version="1.0"?>
<catalog xmlns="urn:oasis:names:tc:entity:xmlns:xml:catalog">
  <system systemId="https://www.w3.org/2003/05/soap-envelope" uri="${stub}"/>
  <uri name="https://www.w3.org/2003/05/soap-envelope" uri="${stub}"/>
  <system systemId="http://www.w3.org/2003/05/soap-envelope" uri="${stub}"/>
  <uri name="http://www.w3.org/2003/05/soap-envelope" uri="${stub}"/>
  ${rewrites.join('\n  ')}
</catalog>
`);
  const env = { ...process.env, XML_CATALOG_FILES: catalog };
  makeDeterministic(dir, schema, env);
  setup = { dir, schema, env };
  return setup;
}

/** Temp-copy edits that let libxml2 compile the schemas: `file:line type`. */
export const schemaPatches: string[] = [];

function makeDeterministic(dir: string, schema: string, env: NodeJS.ProcessEnv): void {
  const probe = join(dir, 'probe.xml');
  writeFileSync(probe, `<cgv:Body xmlns:cgv="${WRAPPER_NS}"/>`);
  for (let round = 0; round < 50; round++) {
    const { stderr, error } = spawnSync('xmllint', ['--noout', '--nonet', '--schema', schema, probe], { env, encoding: 'utf8' });
    if (error) throw new Error(`xmllint did not run (apt-get install libxml2-utils): ${error.message}`);
    const m = /^(?:file:\/\/)?([^\s:]+):(\d+): element complexType: Schemas parser error : complex type '([^']+)': The content model is not determinist/m.exec(stderr);
    if (!m) {
      if (/failed to compile/.test(stderr)) throw new Error(`the ONVIF schemas did not compile:\n${stderr.slice(0, 4000)}`);
      return;
    }
    const [, file, lineText, type] = m;
    if (!file!.startsWith(dir)) throw new Error(`non-deterministic content model outside the temp copy: ${m[0]}`);
    const lines = readFileSync(file!, 'utf8').split('\n');
    let i = Number(lineText) - 1;
    while (i < lines.length && !(lines[i]!.includes('<xs:any') && lines[i]!.includes('##targetNamespace'))) {
      if (lines[i]!.includes('</xs:complexType>')) throw new Error(`cannot make ${type} deterministic: ${m[0]}`);
      i++;
    }
    lines[i] = lines[i]!.replace('##targetNamespace', '##other');
    writeFileSync(file!, lines.join('\n'));
    schemaPatches.push(`${file!.slice(dir.length + 1)}:${i + 1} ${type}`);
  }
  throw new Error('too many non-deterministic content models');
}

/** The WSDL's one xs:schema, with the namespace declarations it inherits from wsdl:definitions. */
function extractSchema(wsdl: string, rel: string): { xsd: string; targetNamespace: string } {
  const defs = /<wsdl:definitions\b[^>]*>/.exec(wsdl)?.[0];
  const start = wsdl.indexOf('<xs:schema');
  const end = wsdl.indexOf('</xs:schema>');
  if (!defs || start < 0 || end < 0) throw new Error(`no embedded schema in ${rel}`);
  let schema = wsdl.slice(start, end + '</xs:schema>'.length);
  const open = /^<xs:schema\b[^>]*>/.exec(schema)![0];
  const have = new Set([...open.matchAll(/\sxmlns(?::([\w.-]+))?=/g)].map((m) => m[1] ?? ''));
  const inherited = [...defs.matchAll(/\sxmlns(?::([\w.-]+))?=("[^"]*"|'[^']*')/g)]
    .filter((m) => !have.has(m[1] ?? ''))
    .map((m) => m[0])
    .join('');
  schema = open.replace(/^<xs:schema/, `<xs:schema${inherited}`) + schema.slice(open.length);
  const targetNamespace = /\stargetNamespace="([^"]+)"/.exec(open)?.[1];
  if (!targetNamespace) throw new Error(`no targetNamespace in ${rel}`);
  return { xsd: `<?xml version="1.0" encoding="UTF-8"?>\n${schema}\n`, targetNamespace };
}

/**
 * The Body's child elements wrapped in a validation root that carries every namespace declared on
 * the Envelope and the Body; null when there is no SOAP Body.
 */
export function bodyDocument(xml: string): string | null {
  const text = xml.replace(/^\uFEFF/, '').replace(/\0+$/, '');
  const env = /<(?:([\w.-]+):)?Envelope\b([^>]*)>/.exec(text);
  if (!env) return null;
  const bodyRe = /<(?:([\w.-]+):)?Body\b([^>]*?)(\/?)>/g;
  bodyRe.lastIndex = env.index + env[0].length;
  const body = bodyRe.exec(text);
  if (!body) return null;
  const prefix = body[1] ? `${body[1]}:` : '';
  let inner = '';
  if (body[3] !== '/') {
    const close = text.lastIndexOf(`</${prefix}Body>`);
    if (close < body.index) return null;
    inner = text.slice(body.index + body[0].length, close);
  }
  const decls = new Map<string, string>();
  for (const attrs of [env[2] ?? '', body[2] ?? '']) {
    for (const m of attrs.matchAll(/\s(xmlns(?::[\w.-]+)?)\s*=\s*("[^"]*"|'[^']*')/g)) decls.set(m[1]!, m[2]!);
  }
  decls.delete('xmlns:cgv');
  const declText = [...decls].map(([k, v]) => ` ${k}=${v}`).join('');
  return `<?xml version="1.0" encoding="UTF-8"?><cgv:Body xmlns:cgv="${WRAPPER_NS}"${declText}>${inner}</cgv:Body>\n`;
}

function runXmllint(files: string[], s: Setup): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile('xmllint', ['--noout', '--nonet', '--schema', s.schema, ...files], { env: s.env, maxBuffer: 64 * 1024 * 1024 }, (err, _stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') return reject(new Error('xmllint not installed (apt-get install libxml2-utils)'));
      if (/failed to compile/.test(stderr)) return reject(new Error(`the ONVIF schemas did not compile:\n${stderr.slice(0, 4000)}`));
      resolvePromise(stderr);
    });
  });
}

let seq = 0;

/** Validates many SOAP answers with one xmllint run (the schemas take most of the time to load). */
export async function validateSoapMany(xmls: readonly string[]): Promise<XsdResult[]> {
  const s = prepare();
  const results: XsdResult[] = xmls.map(() => ({ ok: true, errors: [] }));
  const files: string[] = [];
  const index = new Map<string, number>();
  xmls.forEach((xml, i) => {
    const doc = bodyDocument(xml);
    if (doc === null) {
      results[i] = { ok: false, errors: ['not a SOAP envelope with a Body'] };
      return;
    }
    const file = join(s.dir, `answer-${process.pid}-${++seq}.xml`);
    writeFileSync(file, doc);
    files.push(file);
    index.set(file, i);
  });
  if (files.length === 0) return results;
  try {
    const stderr = await runXmllint(files, s);
    for (const line of stderr.split('\n')) {
      if (!line.trim()) continue;
      const file = files.find((f) => line.startsWith(`${f}:`) || line.startsWith(`${f} `));
      if (!file) continue;
      const r = results[index.get(file)!]!;
      if (line === `${file} validates`) continue;
      r.ok = false;
      if (line !== `${file} fails to validate`) r.errors.push(line.slice(file.length + 1).replace(/^\d+:\s*/, '').trim());
    }
    for (const file of files) {
      const r = results[index.get(file)!]!;
      if (!stderr.includes(`${file} validates`) && r.ok) r.ok = false, r.errors.push(`xmllint gave no verdict`);
    }
  } finally {
    for (const f of files) rmSync(f, { force: true });
  }
  return results;
}

export async function validateSoap(xml: string): Promise<XsdResult> {
  return (await validateSoapMany([xml]))[0]!;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error('usage: node --import tsx test/interop/xsd.ts answer.xml [more.xml ...]');
    process.exit(2);
  }
  const results = await validateSoapMany(files.map((f) => readFileSync(f, 'utf8')));
  let bad = 0;
  results.forEach((r, i) => {
    if (r.ok) console.log(`${files[i]}: valid`);
    else {
      bad++;
      console.log(`${files[i]}: INVALID\n  ${r.errors.join('\n  ')}`);
    }
  });
  if (schemaPatches.length) console.error(`(temp-copy wildcard edits for libxml2: ${schemaPatches.join('; ')})`);
  process.exit(bad ? 1 : 0);
}
