/**
 * Header fields grouped by lower-case name, and the canonical headers block built from them.
 * Repeated fields are joined with `,` in the order received; each value is trimmed and its
 * runs of white space (obs-fold line breaks included) become one space.
 */

/**
 * Header fields by lower-case name, values in the order received. A field sent once (nearly
 * every field) is held as its string, and only a repeated one as a list: a request's map is
 * built on every call, and one array per field was most of its cost.
 */
export class HeaderMap implements Iterable<[string, string[]]> {
  readonly #fields = new Map<string, string | string[]>();

  /** From Node's `rawHeaders` layout: `[name, value, name, value, ...]`. */
  static fromRaw(raw: readonly string[]): HeaderMap {
    const map = new HeaderMap();
    const fields = map.#fields;
    // One hash lookup per field: set them all, and only when the count shows a repeated field
    // (rare) build the map again the careful way.
    for (let i = 0; i + 1 < raw.length; i += 2) fields.set(raw[i]!.toLowerCase(), raw[i + 1]!);
    if (fields.size * 2 === (raw.length & ~1)) return map;
    fields.clear();
    for (let i = 0; i + 1 < raw.length; i += 2) map.#add(raw[i]!.toLowerCase(), raw[i + 1]!);
    return map;
  }

  /** From a record of header values (any case). */
  static fromRecord(headers: Readonly<Record<string, string | readonly string[] | undefined>>): HeaderMap {
    const map = new HeaderMap();
    for (const [name, value] of Object.entries(headers)) {
      if (value === undefined) continue;
      const key = name.toLowerCase();
      if (typeof value === 'string') map.#add(key, value);
      else for (const v of value) map.#add(key, v);
    }
    return map;
  }

  #add(name: string, value: string): void {
    const had = this.#fields.get(name);
    if (had === undefined) this.#fields.set(name, value);
    else if (typeof had === 'string') this.#fields.set(name, [had, value]);
    else had.push(value);
  }

  /** The field names, lower case, in the order first received. */
  names(): IterableIterator<string> {
    return this.#fields.keys();
  }

  has(name: string): boolean {
    return this.#fields.has(name);
  }

  /** Every value of the field, or undefined when it is absent. */
  get(name: string): string[] | undefined {
    const v = this.#fields.get(name);
    return v === undefined ? undefined : typeof v === 'string' ? [v] : [...v];
  }

  /** The first value of the field, or undefined. */
  first(name: string): string | undefined {
    const v = this.#fields.get(name);
    return typeof v === 'string' ? v : v?.[0];
  }

  /** How many times the field was sent. */
  count(name: string): number {
    const v = this.#fields.get(name);
    return v === undefined ? 0 : typeof v === 'string' ? 1 : v.length;
  }

  /** The canonical value (trimmed, repeated values joined with `,`), or undefined when absent. */
  canonical(name: string): string | undefined {
    const v = this.#fields.get(name);
    if (v === undefined) return undefined;
    return typeof v === 'string' ? canonicalHeaderValue(v) : v.map(canonicalHeaderValue).join(',');
  }

  /** A copy with field `name` set to `values`, or removed when `values` is undefined. */
  with(name: string, values: string | readonly string[] | undefined): HeaderMap {
    const copy = new HeaderMap();
    for (const [k, v] of this.#fields) copy.#fields.set(k, typeof v === 'string' ? v : [...v]);
    const key = name.toLowerCase();
    copy.#fields.delete(key);
    if (values !== undefined) for (const v of typeof values === 'string' ? [values] : values) copy.#add(key, v);
    return copy;
  }

  *[Symbol.iterator](): Iterator<[string, string[]]> {
    for (const [k, v] of this.#fields) yield [k, typeof v === 'string' ? [v] : [...v]];
  }
}

const NEEDS_TRIM = /^\s|\s$|\s\s|[\t\r\n]/;

/**
 * The value trimmed, with each run of white space made one space. Most values need nothing:
 * the regex only asks whether they do (it runs faster than a loop over the characters).
 */
export function canonicalHeaderValue(value: string): string {
  // Long opaque values (session tokens) hold no white space at all: four indexOf scans are far
  // cheaper than the regex over them.
  if (value.length > 64 && value.indexOf(' ') < 0 && value.indexOf('\t') < 0 && value.indexOf('\n') < 0 && value.indexOf('\r') < 0) return value;
  return NEEDS_TRIM.test(value) ? value.trim().replace(/\s+/g, ' ') : value;
}

/**
 * `name:value\n` for each signed header, in the order given. Returns undefined when a signed
 * header is absent from the request (the caller turns that into the right error).
 */
export function canonicalHeaders(headers: HeaderMap, signed: readonly string[]): string | undefined {
  let out = '';
  for (const name of signed) {
    const value = headers.canonical(name);
    if (value === undefined) return undefined;
    out += name + ':' + value + '\n';
  }
  return out;
}
