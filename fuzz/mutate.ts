/**
 * Byte-level and dictionary mutations, as libFuzzer and AFL do them, driven by a seedable PRNG so
 * that a run can be repeated. Used by the coverage-guided runner; the property tests use
 * fast-check's own shrinking generators for the same operations.
 */

/** xorshift32: small, fast and seedable; not for anything secret. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let x = this.#s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#s = x >>> 0;
    return this.#s;
  }
  below(n: number): number {
    return n <= 0 ? 0 : this.next() % n;
  }
}

const INTERESTING = [0x00, 0x01, 0x0a, 0x0d, 0x20, 0x25, 0x2e, 0x2f, 0x3a, 0x3b, 0x3d, 0x5c, 0x7f, 0x80, 0xc0, 0xff];

/** One to a few mutations of `input`; `other` is another corpus entry for crossover. Bounded by `maxLen`. */
export function mutate(input: Buffer, rng: Rng, dictionary: readonly string[], other: Buffer | undefined, maxLen: number): Buffer {
  let b = Buffer.from(input);
  const rounds = 1 + rng.below(4);
  for (let r = 0; r < rounds; r++) {
    const at = rng.below(b.length + 1);
    switch (rng.below(10)) {
      case 0: // flip a bit
        if (b.length > 0) b[rng.below(b.length)]! ^= 1 << rng.below(8);
        break;
      case 1: // set an interesting byte
        if (b.length > 0) b[rng.below(b.length)] = INTERESTING[rng.below(INTERESTING.length)]!;
        break;
      case 2: // random byte
        if (b.length > 0) b[rng.below(b.length)] = rng.below(256);
        break;
      case 3: { // delete a range
        const n = 1 + rng.below(Math.min(16, Math.max(1, b.length - at)));
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + n)]);
        break;
      }
      case 4: { // insert random bytes
        const n = 1 + rng.below(8);
        const ins = Buffer.alloc(n);
        for (let i = 0; i < n; i++) ins[i] = rng.below(256);
        b = Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
        break;
      }
      case 5: // insert a dictionary word
      case 6: {
        const w = dictionary[rng.below(dictionary.length)];
        if (w !== undefined) b = Buffer.concat([b.subarray(0, at), Buffer.from(w, 'latin1'), b.subarray(at)]);
        break;
      }
      case 7: { // duplicate a slice
        if (b.length === 0) break;
        const from = rng.below(b.length);
        const n = 1 + rng.below(Math.min(64, b.length - from));
        b = Buffer.concat([b.subarray(0, at), b.subarray(from, from + n), b.subarray(at)]);
        break;
      }
      case 8: { // crossover with another input
        if (other === undefined || other.length === 0) break;
        const from = rng.below(other.length);
        b = Buffer.concat([b.subarray(0, at), other.subarray(from, from + 1 + rng.below(other.length - from))]);
        break;
      }
      case 9: { // overwrite with an ASCII digit run (sizes, dates, counts)
        const digits = String(rng.below(2) ? rng.next() : rng.below(100));
        b = Buffer.concat([b.subarray(0, at), Buffer.from(digits), b.subarray(Math.min(b.length, at + digits.length))]);
        break;
      }
    }
  }
  return b.length > maxLen ? b.subarray(0, maxLen) : b;
}
