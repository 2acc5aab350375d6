/** Builds aws-chunked bodies: signed chunks, signed trailers, or unsigned chunks with a checksum trailer. */
import { createHash } from 'node:crypto';
import { checksumOf } from './checksums.js';
import { canonicalTrailer, chunkSignature, trailerSignature, type ChunkSigning } from './chunked.js';
import { H_TRAILER_SIGNATURE } from './constants.js';

export interface ChunkedBodyOptions {
  /** Signed chunks; omitted for STREAMING-UNSIGNED-PAYLOAD-TRAILER. */
  readonly signing?: ChunkSigning;
  /** A checksum trailer such as `x-amz-checksum-crc32`. */
  readonly trailer?: string;
}

/** Encodes `chunks` (the data, already split) as one aws-chunked body. */
export function encodeChunkedBody(chunks: readonly Uint8Array[], opts: ChunkedBodyOptions = {}): Buffer {
  const parts: Buffer[] = [];
  let previous = opts.signing?.seedSignature ?? '';
  const line = (size: number) => {
    if (!opts.signing) return `${size.toString(16)}\r\n`;
    const dataHash = createHash('sha256');
    return (data: Uint8Array) => {
      dataHash.update(data);
      previous = chunkSignature(opts.signing!, previous, dataHash.digest('hex'));
      return `${size.toString(16)};chunk-signature=${previous}\r\n`;
    };
  };
  const emit = (data: Uint8Array) => {
    const l = line(data.length);
    parts.push(Buffer.from(typeof l === 'string' ? l : l(data), 'latin1'));
    if (data.length > 0) parts.push(Buffer.from(data), Buffer.from('\r\n'));
  };
  for (const c of chunks) if (c.length > 0) emit(c);
  emit(new Uint8Array(0));
  if (opts.trailer !== undefined) {
    const trailers: Array<[string, string]> = [[opts.trailer, checksumOf(opts.trailer, Buffer.concat(chunks))]];
    for (const [n, v] of trailers) parts.push(Buffer.from(`${n}:${v}\r\n`));
    if (opts.signing) {
      const sig = trailerSignature(opts.signing, previous, canonicalTrailer(trailers));
      parts.push(Buffer.from(`${H_TRAILER_SIGNATURE}:${sig}\r\n`));
    }
  }
  parts.push(Buffer.from('\r\n'));
  return Buffer.concat(parts);
}
