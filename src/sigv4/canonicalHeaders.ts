/**
 * Header fields grouped by lower-case name, and the canonical headers block built from them.
 * Repeated fields are joined with `,` in the order received; each value is trimmed and its
 * runs of white space (obs-fold line breaks included) become one space.
 */

/** Lower-case name -> values in the order received. */
export type HeaderMap = Map<string, string[]>;

/** From Node's `rawHeaders` layout: `[name, value, name, value, ...]`. */
export function headerMapFromRaw(raw: readonly string[]): HeaderMap {
  const map: HeaderMap = new Map();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const values = map.get(name);
    if (values) values.push(raw[i + 1]!);
    else map.set(name, [raw[i + 1]!]);
  }
  return map;
}

/** From a record of header values (any case). */
export function headerMapFromRecord(headers: Readonly<Record<string, string | readonly string[] | undefined>>): HeaderMap {
  const map: HeaderMap = new Map();
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const key = name.toLowerCase();
    const list = map.get(key) ?? [];
    if (typeof value === 'string') list.push(value);
    else list.push(...value);
    map.set(key, list);
  }
  return map;
}

const NEEDS_TRIM = /^\s|\s$|\s\s|[\t\r\n]/;

export function canonicalHeaderValue(value: string): string {
  // Long opaque values (session tokens) hold no white space at all: four indexOf scans are far
  // cheaper than the regex over them.
  if (value.length > 64 && value.indexOf(' ') < 0 && value.indexOf('\t') < 0 && value.indexOf('\n') < 0 && value.indexOf('\r') < 0) return value;
  return NEEDS_TRIM.test(value) ? value.trim().replace(/\s+/g, ' ') : value;
}

/** The first value of a header, or undefined. */
export function headerValue(headers: HeaderMap, name: string): string | undefined {
  return headers.get(name)?.[0];
}

/**
 * `name:value\n` for each signed header, in the order given. Returns undefined when a signed
 * header is absent from the request (the caller turns that into the right error).
 */
export function canonicalHeaders(headers: HeaderMap, signed: readonly string[]): string | undefined {
  let out = '';
  for (const name of signed) {
    const values = headers.get(name);
    if (values === undefined) return undefined;
    out += name + ':' + (values.length === 1 ? canonicalHeaderValue(values[0]!) : values.map(canonicalHeaderValue).join(',')) + '\n';
  }
  return out;
}
