/**
 * The little XML the vim25 SOAP API needs: building request bodies as escaped strings, and reading responses
 * with fast-xml-parser into plain objects (namespace prefixes dropped, attributes as `@name`, text as `#text`).
 */
import { XMLParser } from 'fast-xml-parser';

/** A managed object reference, e.g. `{ type: 'VirtualMachine', value: 'vm-42' }`. */
export interface MoRef {
  type: string;
  value: string;
}

export function esc(s: string | number | boolean): string {
  return String(s)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** `<name>escaped text</name>`; undefined values produce nothing (optional SOAP fields are omitted). */
export function el(name: string, value: string | number | boolean | undefined): string {
  return value === undefined ? '' : `<${name}>${esc(value)}</${name}>`;
}

/** `<name>` around already-built XML. */
export function wrap(name: string, inner: string, xsiType?: string): string {
  return xsiType ? `<${name} xsi:type="${esc(xsiType)}">${inner}</${name}>` : `<${name}>${inner}</${name}>`;
}

export function moRefXml(name: string, ref: MoRef): string {
  return `<${name} type="${esc(ref.type)}">${esc(ref.value)}</${name}>`;
}

export function envelope(body: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"' +
    ' xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">' +
    `<soapenv:Body>${body}</soapenv:Body></soapenv:Envelope>`
  );
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  // vcsim (Go's encoder) writes quotes as numeric references (&#34;): decode them too.
  htmlEntities: true,
});

// biome-ignore lint/suspicious/noExplicitAny: parsed XML is untyped until read through the helpers below
export type Node = any;

export function parseXml(text: string): Node {
  return parser.parse(text);
}

/** A repeated element parses as an array, a single one as an object: always an array. */
export function arr(x: Node): Node[] {
  if (x === undefined || x === null || x === '') return [];
  return Array.isArray(x) ? x : [x];
}

/** An element's text, whether it parsed as a string or as an object with attributes. */
export function text(x: Node): string | undefined {
  if (x === undefined || x === null) return undefined;
  if (typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean') return String(x);
  if (typeof x === 'object' && '#text' in x) return String(x['#text']);
  return undefined;
}

export function moRef(x: Node): MoRef | undefined {
  const value = text(x);
  const type = x?.['@type'];
  return value && typeof type === 'string' ? { type, value } : undefined;
}

/** The xsi:type of a parsed element (prefix dropped), e.g. `DuplicateName`. */
export function xsiType(x: Node): string | undefined {
  const t = x?.['@type'];
  return typeof t === 'string' ? t.replace(/^.*:/, '') : undefined;
}
