/**
 * Header fields grouped by lower-case name, and the canonical headers block built from them.
 * Repeated fields are joined with `,` in the order received; each value is trimmed and its
 * runs of white space (obs-fold line breaks included) become one space.
 */

/**
 * Header fields by lower-case name, values in the order received. Held as the two parallel
 * lists the wire gives (names, values) and searched in place: a request has a dozen fields and
 * the verifier asks for a dozen, which a scan answers faster than building a hash map (measured;
 * names of another length are rejected without reading them). The gateway caps the field count.
 */
export class HeaderMap implements Iterable<[string, string[]]> {
  readonly #names: string[] = [];
  readonly #values: string[] = [];

  /** From Node's `rawHeaders` layout: `[name, value, name, value, ...]`. */
  static fromRaw(raw: readonly string[]): HeaderMap {
    const map = new HeaderMap();
    for (let i = 0; i + 1 < raw.length; i += 2) {
      map.#names.push(raw[i]!.toLowerCase());
      map.#values.push(raw[i + 1]!);
    }
    return map;
  }

  /** From a record of header values (any case). */
  static fromRecord(headers: Readonly<Record<string, string | readonly string[] | undefined>>): HeaderMap {
    const map = new HeaderMap();
    for (const [name, value] of Object.entries(headers)) {
      if (value === undefined) continue;
      const key = name.toLowerCase();
      for (const v of typeof value === 'string' ? [value] : value) {
        map.#names.push(key);
        map.#values.push(v);
      }
    }
    return map;
  }

  /** The field names, lower case, each once, in the order first received. */
  names(): IterableIterator<string> {
    return new Set(this.#names).values();
  }

  has(name: string): boolean {
    return this.#names.includes(name);
  }

  /** Every value of the field, or undefined when it is absent. */
  get(name: string): string[] | undefined {
    const out: string[] = [];
    for (let i = 0; i < this.#names.length; i++) if (this.#names[i] === name) out.push(this.#values[i]!);
    return out.length === 0 ? undefined : out;
  }

  /** The first value of the field, or undefined. */
  first(name: string): string | undefined {
    const i = this.#names.indexOf(name);
    return i < 0 ? undefined : this.#values[i];
  }

  /**
   * The value of a field that may be sent at most once: its value, undefined when absent, or
   * null when it was sent more than once. One scan, where `count` and `first` take two.
   */
  sole(name: string): string | undefined | null {
    const i = this.#names.indexOf(name);
    if (i < 0) return undefined;
    return this.#names.indexOf(name, i + 1) < 0 ? this.#values[i] : null;
  }

  /** How many times the field was sent. */
  count(name: string): number {
    let n = 0;
    for (let i = 0; i < this.#names.length; i++) if (this.#names[i] === name) n++;
    return n;
  }

  /** The canonical value (trimmed, repeated values joined with `,`), or undefined when absent. */
  canonical(name: string): string | undefined {
    const i = this.#names.indexOf(name);
    if (i < 0) return undefined;
    const next = this.#names.indexOf(name, i + 1);
    return next < 0 ? canonicalHeaderValue(this.#values[i]!) : this.get(name)!.map(canonicalHeaderValue).join(',');
  }

  /** A copy with field `name` set to `values`, or removed when `values` is undefined. */
  with(name: string, values: string | readonly string[] | undefined): HeaderMap {
    const key = name.toLowerCase();
    const copy = new HeaderMap();
    for (let i = 0; i < this.#names.length; i++) {
      if (this.#names[i] === key) continue;
      copy.#names.push(this.#names[i]!);
      copy.#values.push(this.#values[i]!);
    }
    for (const v of values === undefined ? [] : typeof values === 'string' ? [values] : values) {
      copy.#names.push(key);
      copy.#values.push(v);
    }
    return copy;
  }

  *[Symbol.iterator](): Iterator<[string, string[]]> {
    for (const name of this.names()) yield [name, this.get(name)!];
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
