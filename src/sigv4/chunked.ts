/**
 * Body checks that run as the body streams: the hex SHA-256 of a plain body, and the
 * aws-chunked encodings with chained chunk signatures, signed trailers and checksum trailers.
 * https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html
 * https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming-trailers.html
 *
 * Wire format (signed):   hex-size;chunk-signature=sig CRLF data CRLF ... 0;chunk-signature=sig CRLF [trailers] CRLF
 * Wire format (unsigned): hex-size CRLF data CRLF ... 0 CRLF trailers CRLF
 * Trailers are `name:value CRLF` lines; a signed trailer section ends with
 * `x-amz-trailer-signature:sig CRLF`.
 */
import { createHash, type Hash } from 'node:crypto';
import { timingSafeEqualString } from '../core/compare.js';
import { PortcullisError } from '../core/errors.js';
import { CHECKSUMS, type Checksum } from './checksums.js';
import { CHUNK_ALGORITHM, EMPTY_SHA256, H_TRAILER_SIGNATURE, TRAILER_ALGORITHM } from './constants.js';
import type { SigningKey } from './signingKey.js';

/**
 * A streaming body check. `push` takes the next bytes from the wire and returns the decoded
 * bytes that may be passed on; `end` is called at the end of the body and throws a
 * PortcullisError if the body was bad. Both throw at the first bad chunk.
 *
 * INVARIANT: for signed aws-chunked bodies, no byte is returned before its chunk signature
 * was checked. For plain bodies the hash can only be checked at the end, so callers must not
 * act on a body before `end` returned.
 */
export interface BodyDecoder {
  push(chunk: Uint8Array): Uint8Array[];
  end(): Uint8Array[];
}

/**
 * Checks a plain body against its declared hex SHA-256. The last piece is held back until the
 * hash is checked, so whoever reads the output (an upstream) never receives a complete body
 * that turns out to be wrong.
 */
export class Sha256Check implements BodyDecoder {
  readonly #expected: string;
  readonly #hash: Hash = createHash('sha256');
  #held: Uint8Array | undefined;

  constructor(expectedHex: string) {
    this.#expected = expectedHex;
  }

  push(chunk: Uint8Array): Uint8Array[] {
    this.#hash.update(chunk);
    const out = this.#held === undefined ? [] : [this.#held];
    // Copied: the caller may reuse its buffer before the hash is checked.
    this.#held = Buffer.from(chunk);
    return out;
  }

  end(): Uint8Array[] {
    if (!timingSafeEqualString(this.#hash.digest('hex'), this.#expected)) {
      throw new PortcullisError('XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.");
    }
    return this.#held === undefined ? [] : [this.#held];
  }
}

/** What signs the chunks of one request: its signing key, seed signature, date and scope. */
export interface ChunkSigning {
  readonly key: SigningKey;
  readonly seedSignature: string;
  readonly amzDate: string;
  readonly scope: string;
}

/** Hex signature of one chunk, chained to the previous one. */
export function chunkSignature(s: Omit<ChunkSigning, 'seedSignature'>, previous: string, dataSha256Hex: string): string {
  return s.key.sign(`${CHUNK_ALGORITHM}\n${s.amzDate}\n${s.scope}\n${previous}\n${EMPTY_SHA256}\n${dataSha256Hex}`);
}

/** Trailer lines in canonical form: `name:value\n` each, in the order sent. */
export function canonicalTrailer(trailers: ReadonlyArray<readonly [string, string]>): string {
  return trailers.map(([n, v]) => `${n.toLowerCase()}:${v.trim()}\n`).join('');
}

/** Hex signature of the trailer section, chained to the final chunk's. */
export function trailerSignature(s: Omit<ChunkSigning, 'seedSignature'>, previous: string, canonical: string): string {
  const hash = createHash('sha256').update(canonical).digest('hex');
  return s.key.sign(`${TRAILER_ALGORITHM}\n${s.amzDate}\n${s.scope}\n${previous}\n${hash}`);
}

export interface ChunkedOptions {
  /** Present for signed chunks. */
  readonly signing: ChunkSigning | undefined;
  /** The `x-amz-trailer` header value: the trailers that must arrive. */
  readonly trailer: string | undefined;
  /** `x-amz-decoded-content-length`, when sent. */
  readonly decodedLength: number | undefined;
  readonly maxChunkBytes: number;
}

const MAX_LINE = 1024;
const CR = 0x0d;
const LF = 0x0a;
const SIGNED_HEADER_LINE = /^([0-9a-fA-F]{1,16});chunk-signature=([0-9a-f]{64})$/;
const UNSIGNED_HEADER_LINE = /^([0-9a-fA-F]{1,16})$/;

type State = 'header' | 'data' | 'dataEnd' | 'trailer' | 'done';

function framing(message: string): PortcullisError {
  return new PortcullisError('InvalidChunkedEncoding', `the aws-chunked body is malformed: ${message}`);
}

/** Decodes and checks an aws-chunked body. */
export class ChunkedDecoder implements BodyDecoder {
  readonly #opts: ChunkedOptions;
  readonly #checksum: { name: string; sum: Checksum } | undefined;
  #state: State = 'header';
  #line: number[] = [];
  #remaining = 0;
  #chunkSignature = '';
  #chunkHash: Hash | undefined;
  #held: Uint8Array[] = [];
  #previous: string;
  #decoded = 0;
  #trailers: Array<[string, string]> = [];
  #failed: Error | undefined;

  constructor(opts: ChunkedOptions) {
    this.#opts = opts;
    this.#previous = opts.signing?.seedSignature ?? '';
    if (opts.trailer !== undefined) {
      const name = opts.trailer.trim().toLowerCase();
      // Own keys only: a trailer named `constructor` must not find Object.prototype's.
      const factory = Object.hasOwn(CHECKSUMS, name) ? CHECKSUMS[name] : undefined;
      if (factory === undefined) {
        throw new PortcullisError('InvalidParameterValue', `x-amz-trailer \`${name.slice(0, 64)}\` is not a supported checksum (x-amz-checksum-crc32, -crc32c, -sha1, -sha256)`);
      }
      this.#checksum = { name, sum: factory() };
    }
  }

  push(chunk: Uint8Array): Uint8Array[] {
    if (this.#failed) throw this.#failed;
    try {
      return this.#push(chunk);
    } catch (e) {
      // A decoder that failed stays failed: later pushes repeat the first error.
      this.#failed = e as Error;
      throw e;
    }
  }

  #push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let i = 0;
    while (i < chunk.length) {
      switch (this.#state) {
        case 'header':
        case 'trailer':
        case 'dataEnd': {
          const b = chunk[i++]!;
          if (b !== LF) {
            if (this.#line.length >= MAX_LINE) throw framing('a line is too long');
            this.#line.push(b);
            break;
          }
          if (this.#line.at(-1) !== CR) throw framing('a line does not end in CRLF');
          const line = Buffer.from(this.#line.slice(0, -1)).toString('latin1');
          this.#line = [];
          this.#onLine(line, out);
          break;
        }
        case 'data': {
          const n = Math.min(this.#remaining, chunk.length - i);
          const piece = chunk.subarray(i, i + n);
          i += n;
          this.#remaining -= n;
          this.#onData(piece, out);
          if (this.#remaining === 0) this.#state = 'dataEnd';
          break;
        }
        case 'done':
          throw framing('bytes follow the final chunk');
      }
    }
    return out;
  }

  end(): Uint8Array[] {
    if (this.#failed) throw this.#failed;
    if (this.#state !== 'done') {
      throw new PortcullisError('IncompleteBody', 'The request body terminated unexpectedly');
    }
    return [];
  }

  #onData(piece: Uint8Array, out: Uint8Array[]): void {
    this.#decoded += piece.length;
    const declared = this.#opts.decodedLength;
    if (declared !== undefined && this.#decoded > declared) {
      throw new PortcullisError('IncompleteBody', `The decoded body is longer than the ${declared} bytes that x-amz-decoded-content-length declared`);
    }
    this.#checksum?.sum.update(piece);
    if (this.#opts.signing) {
      this.#chunkHash!.update(piece);
      // Copied: the caller may reuse its buffer before the chunk's signature is checked.
      this.#held.push(Buffer.from(piece));
    } else {
      out.push(piece);
    }
  }

  #onLine(line: string, out: Uint8Array[]): void {
    switch (this.#state) {
      case 'dataEnd':
        if (line !== '') throw framing('chunk data is longer than its declared size');
        this.#endOfChunk(out);
        this.#state = 'header';
        return;
      case 'header':
        return this.#onChunkHeader(line, out);
      case 'trailer':
        return this.#onTrailerLine(line);
      default:
        throw framing('unexpected line');
    }
  }

  #onChunkHeader(line: string, out: Uint8Array[]): void {
    const m = (this.#opts.signing ? SIGNED_HEADER_LINE : UNSIGNED_HEADER_LINE).exec(line);
    if (!m) throw framing(`bad chunk header \`${line.slice(0, 40).replace(/chunk-signature=.*/, 'chunk-signature=…')}\``);
    const size = parseInt(m[1]!, 16);
    if (size > this.#opts.maxChunkBytes) throw framing(`a chunk of ${size} bytes is larger than the limit of ${this.#opts.maxChunkBytes}`);
    this.#chunkSignature = m[2] ?? '';
    this.#chunkHash = this.#opts.signing ? createHash('sha256') : undefined;
    if (size > 0) {
      this.#remaining = size;
      this.#state = 'data';
      return;
    }
    // The final, empty chunk.
    this.#endOfChunk(out);
    this.#state = 'trailer';
  }

  #endOfChunk(out: Uint8Array[]): void {
    const signing = this.#opts.signing;
    if (!signing) return;
    const expected = chunkSignature(signing, this.#previous, this.#chunkHash!.digest('hex'));
    if (!timingSafeEqualString(expected, this.#chunkSignature)) {
      throw new PortcullisError('SignatureDoesNotMatch', 'The chunk signature we calculated does not match the signature you provided.');
    }
    this.#previous = this.#chunkSignature;
    out.push(...this.#held);
    this.#held = [];
  }

  #onTrailerLine(line: string): void {
    if (line !== '') {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new PortcullisError('MalformedTrailer', 'The request contained trailing data that was not well-formed');
      if (this.#trailers.length >= 8) throw new PortcullisError('MalformedTrailer', 'The request contained too many trailers');
      this.#trailers.push([line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()]);
      return;
    }
    this.#finish();
  }

  #finish(): void {
    const signing = this.#opts.signing;
    let trailers = this.#trailers;
    if (signing && this.#checksum) {
      const sig = trailers.find(([n]) => n === H_TRAILER_SIGNATURE);
      trailers = trailers.filter(([n]) => n !== H_TRAILER_SIGNATURE);
      if (!sig || sig[1].length !== 64) {
        throw new PortcullisError('MalformedTrailer', 'The signed trailer has no valid x-amz-trailer-signature');
      }
      const expected = trailerSignature(signing, this.#previous, canonicalTrailer(trailers));
      if (!timingSafeEqualString(expected, sig[1])) {
        throw new PortcullisError('SignatureDoesNotMatch', 'The trailer signature we calculated does not match the signature you provided.');
      }
    }
    if (this.#checksum) {
      const { name, sum } = this.#checksum;
      const got = trailers.filter(([n]) => n === name);
      if (got.length !== 1 || trailers.length !== 1) {
        throw new PortcullisError('MalformedTrailer', `The request must carry exactly the trailer it declared in x-amz-trailer: ${name}`);
      }
      if (got[0]![1] !== sum.digest()) {
        throw new PortcullisError('BadDigest', `The ${name.slice('x-amz-checksum-'.length).toUpperCase()} you specified did not match the calculated checksum.`);
      }
    } else if (trailers.length > 0) {
      throw new PortcullisError('MalformedTrailer', 'The request carries trailers it did not declare in x-amz-trailer');
    }
    if (this.#opts.decodedLength !== undefined && this.#opts.decodedLength !== this.#decoded) {
      throw new PortcullisError('IncompleteBody', `The decoded body is ${this.#decoded} bytes, not the ${this.#opts.decodedLength} that x-amz-decoded-content-length declared`);
    }
    this.#state = 'done';
  }
}
