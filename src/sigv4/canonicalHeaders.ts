/**
 * Header fields grouped by lower-case name, and the canonical headers block built from them.
 * Repeated fields are joined with `,` in the order received; each value is trimmed and its
 * runs of white space (obs-fold line breaks included) become one space.
 */

/**
 * Header fields by lower-case name, values in the order received. Held as the list the wire gives
 * (name, value, name, value…) and searched in place: a request has a dozen fields and the verifier
 * asks for a dozen, which a scan answers faster than building a hash map (measured; names of
 * another length are rejected without reading them). The gateway caps the field count.
 */
export class HeaderMap implements Iterable<[string, string[]]> {
  /** `[name, value, name, value, …]`, every name lower case: Node's `rawHeaders` itself when its names are. */
  readonly #fields: readonly string[];

  private constructor(fields: readonly string[]) {
    this.#fields = fields;
  }

  /** From Node's `rawHeaders` layout: `[name, value, name, value, ...]`. */
  static fromRaw(raw: readonly string[]): HeaderMap {
    const n = raw.length & ~1;
    // SDKs send lower-case names: then the wire's own list serves as is, with nothing copied.
    let i = 0;
    while (i < n && raw[i]!.toLowerCase() === raw[i]) i += 2;
    if (i >= n) return new HeaderMap(n === raw.length ? raw : raw.slice(0, n));
    const fields = raw.slice(0, n);
    for (; i < n; i += 2) fields[i] = raw[i]!.toLowerCase();
    return new HeaderMap(fields);
  }

  /** From a record of header values (any case). */
  static fromRecord(headers: Readonly<Record<string, string | readonly string[] | undefined>>): HeaderMap {
    const fields: string[] = [];
    for (const [name, value] of Object.entries(headers)) {
      if (value === undefined) continue;
      const key = name.toLowerCase();
      for (const v of typeof value === 'string' ? [value] : value) fields.push(key, v);
    }
    return new HeaderMap(fields);
  }

  /** Index of the first field named `name` at or after field index `from`, or -1. */
  #find(name: string, from = 0): number {
    const f = this.#fields;
    for (let i = from; i < f.length; i += 2) if (f[i] === name) return i;
    return -1;
  }

  /** The field names, lower case, each once, in the order first received. */
  names(): IterableIterator<string> {
    const out = new Set<string>();
    for (let i = 0; i < this.#fields.length; i += 2) out.add(this.#fields[i]!);
    return out.values();
  }

  has(name: string): boolean {
    return this.#find(name) >= 0;
  }

  /** Every value of the field, or undefined when it is absent. */
  get(name: string): string[] | undefined {
    const out: string[] = [];
    for (let i = this.#find(name); i >= 0; i = this.#find(name, i + 2)) out.push(this.#fields[i + 1]!);
    return out.length === 0 ? undefined : out;
  }

  /** The first value of the field, or undefined. */
  first(name: string): string | undefined {
    const i = this.#find(name);
    return i < 0 ? undefined : this.#fields[i + 1];
  }

  /**
   * The value of a field that may be sent at most once: its value, undefined when absent, or
   * null when it was sent more than once. One scan, where `count` and `first` take two.
   */
  sole(name: string): string | undefined | null {
    const i = this.#find(name);
    if (i < 0) return undefined;
    return this.#find(name, i + 2) < 0 ? this.#fields[i + 1] : null;
  }

  /** How many times the field was sent. */
  count(name: string): number {
    let n = 0;
    for (let i = this.#find(name); i >= 0; i = this.#find(name, i + 2)) n++;
    return n;
  }

  /** The canonical value (trimmed, repeated values joined with `,`), or undefined when absent. */
  canonical(name: string): string | undefined {
    const i = this.#find(name);
    if (i < 0) return undefined;
    return this.#find(name, i + 2) < 0 ? canonicalHeaderValue(this.#fields[i + 1]!) : this.get(name)!.map(canonicalHeaderValue).join(',');
  }

  /** A copy with field `name` set to `values`, or removed when `values` is undefined. */
  with(name: string, values: string | readonly string[] | undefined): HeaderMap {
    const key = name.toLowerCase();
    const fields: string[] = [];
    for (let i = 0; i < this.#fields.length; i += 2) if (this.#fields[i] !== key) fields.push(this.#fields[i]!, this.#fields[i + 1]!);
    for (const v of values === undefined ? [] : typeof values === 'string' ? [values] : values) fields.push(key, v);
    return new HeaderMap(fields);
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
