/** The AWS query protocol: form-encoded parameters in, XML out. */
import { escapeXml, PortcullisError } from '../core/errors.js';

/** A parameter's value; an empty one counts as absent. */
export function param(p: ReadonlyMap<string, string>, name: string): string | undefined {
  const v = p.get(name);
  return v === undefined || v === '' ? undefined : v;
}

/** A parameter that must be there, or the ValidationError AWS sends for a missing member. */
export function required(p: ReadonlyMap<string, string>, name: string): string {
  const v = param(p, name);
  if (v === undefined) {
    const member = name.charAt(0).toLowerCase() + name.slice(1);
    throw new PortcullisError('ValidationError', `1 validation error detected: Value null at '${member}' failed to satisfy constraint: Member must not be null`);
  }
  return v;
}

/**
 * Parameters of a request: the form body (when its content type is a form), then the URL's query
 * string; the first of each name, and the names sent more than once anywhere in them.
 */
export function requestParams(body: Buffer, contentType: string | undefined, rawQuery: string): { params: Map<string, string>; repeated: Set<string> } {
  const params = new Map<string, string>();
  const repeated = new Set<string>();
  const add = (s: string) => {
    for (const [k, v] of new URLSearchParams(s)) {
      if (params.has(k)) repeated.add(k);
      else params.set(k, v);
    }
  };
  if (body.length > 0 && (contentType === undefined || contentType.toLowerCase().startsWith('application/x-www-form-urlencoded'))) {
    add(body.toString('utf8'));
  }
  if (rawQuery !== '') add(rawQuery);
  return { params, repeated };
}

/** Parameters of a query-protocol request: the form body, then the URL's query string. */
export function queryParams(body: Buffer, contentType: string | undefined, rawQuery: string): Map<string, string> {
  return requestParams(body, contentType, rawQuery).params;
}

export type XmlValue = string | number | boolean | undefined | XmlNode | XmlValue[];
export interface XmlNode {
  readonly [element: string]: XmlValue;
}

/** `{ Arn: 'x', Nested: { A: 1 } }` -> `<Arn>x</Arn><Nested><A>1</A></Nested>`; undefined is left out. */
export function toXml(node: XmlNode): string {
  let out = '';
  // for-in, not Object.entries: the answers are plain objects, and V8 walks their keys from a cache.
  for (const name in node) out += element(name, node[name]);
  return out;
}

function element(name: string, value: XmlValue): string {
  if (value === undefined) return '';
  if (Array.isArray(value)) return `<${name}>${value.map((v) => element('member', v)).join('')}</${name}>`;
  if (typeof value === 'object') return `<${name}>${toXml(value)}</${name}>`;
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

/** The envelope every query-protocol answer has. */
export function queryResponse(action: string, xmlns: string, result: XmlNode | undefined, requestId: string): string {
  const inner = result === undefined ? '' : `<${action}Result>${toXml(result)}</${action}Result>`;
  return `<${action}Response xmlns="${xmlns}">${inner}<ResponseMetadata><RequestId>${escapeXml(requestId)}</RequestId></ResponseMetadata></${action}Response>`;
}
