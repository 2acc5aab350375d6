/**
 * The request context that conditions and policy variables read: condition keys (compared
 * without regard to case) to their values. A single-valued key holds one value; a multivalued
 * key (aws:TagKeys) holds a list, possibly empty. An absent key is simply not there.
 */
export class RequestContext {
  readonly #values = new Map<string, readonly string[]>();

  constructor(entries: Iterable<readonly [string, string | readonly string[] | undefined]> = []) {
    for (const [k, v] of entries) if (v !== undefined) this.set(k, v);
  }

  set(key: string, value: string | readonly string[]): this {
    this.#values.set(key.toLowerCase(), typeof value === 'string' ? [value] : value);
    return this;
  }

  get(key: string): readonly string[] | undefined {
    return this.#values.get(key.toLowerCase());
  }

  has(key: string): boolean {
    return this.#values.has(key.toLowerCase());
  }

  /** Another context with the same keys and values, to add to without touching this one. */
  copy(): RequestContext {
    return new RequestContext(this.#values);
  }

  keys(): IterableIterator<string> {
    return this.#values.keys();
  }
}
