/**
 * The flexible-checksum algorithms that aws-chunked trailers carry: CRC32, CRC32C, SHA-1 and
 * SHA-256. Values travel as base64 of the big-endian digest.
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';

export interface Checksum {
  update(data: Uint8Array): void;
  /** Base64 of the digest; call once. */
  digest(): string;
}

/** CRC-32C (Castagnoli), reflected polynomial 0x82F63B78, slice-by-8 tables. */
const CRC32C_TABLES: Uint32Array[] = (() => {
  const tables = Array.from({ length: 8 }, () => new Uint32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    tables[0]![n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = tables[0]![n]!;
    for (let t = 1; t < 8; t++) {
      c = tables[0]![c & 0xff]! ^ (c >>> 8);
      tables[t]![n] = c >>> 0;
    }
  }
  return tables;
})();

export function crc32c(data: Uint8Array, previous = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = CRC32C_TABLES as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array];
  let c = ~previous >>> 0;
  let i = 0;
  const end8 = data.length - (data.length % 8);
  for (; i < end8; i += 8) {
    const lo = (c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))) >>> 0;
    c = t7[lo & 0xff]! ^ t6[(lo >>> 8) & 0xff]! ^ t5[(lo >>> 16) & 0xff]! ^ t4[lo >>> 24]! ^
      t3[data[i + 4]!]! ^ t2[data[i + 5]!]! ^ t1[data[i + 6]!]! ^ t0[data[i + 7]!]!;
  }
  for (; i < data.length; i++) c = t0[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

function crcChecksum(fn: (data: Uint8Array, previous: number) => number): Checksum {
  let value = 0;
  return {
    update: (data) => void (value = fn(data, value)),
    digest: () => {
      const out = Buffer.alloc(4);
      out.writeUInt32BE(value >>> 0);
      return out.toString('base64');
    },
  };
}

function hashChecksum(algorithm: 'sha1' | 'sha256'): Checksum {
  const h = createHash(algorithm);
  return { update: (data) => void h.update(data), digest: () => h.digest('base64') };
}

/** Trailer/header name -> checksum factory. */
export const CHECKSUMS: Readonly<Record<string, () => Checksum>> = Object.freeze({
  'x-amz-checksum-crc32': () => crcChecksum((d, p) => crc32(d, p)),
  'x-amz-checksum-crc32c': () => crcChecksum(crc32c),
  'x-amz-checksum-sha1': () => hashChecksum('sha1'),
  'x-amz-checksum-sha256': () => hashChecksum('sha256'),
});

export function checksumOf(name: string, data: Uint8Array): string {
  const factory = Object.hasOwn(CHECKSUMS, name) ? CHECKSUMS[name] : undefined;
  if (factory === undefined) throw new RangeError(`unknown checksum \`${name}\``);
  const c = factory();
  c.update(data);
  return c.digest();
}
