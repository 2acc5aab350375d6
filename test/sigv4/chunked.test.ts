/**
 * aws-chunked bodies end to end: AWS's documented chunked-upload example (read from
 * ../shared, never copied here), chunk-signature chaining and the first-bad-chunk rule,
 * framing errors, signed and unsigned checksum trailers, the checksums themselves against
 * independent references, the plain-body SHA-256 check and the stream Transform.
 *
 * Requests are built the way a client builds them: signed by our Signer with a STREAMING-*
 * payload hash, verified by a Verifier, and their body checked by `verifier.bodyDecoder`.
 * Bodies are built by a reference encoder written here from the AWS documentation (its own
 * HMAC chain, its own CRCs), so the library's encoder and decoder are both checked against it.
 */
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import * as fc from 'fast-check';
import { PortcullisError, type ErrorCode } from '../../src/core/errors.js';
import {
  CHECKSUMS, ChunkedDecoder, checksumOf, crc32c, decoderStream, encodeChunkedBody, HeaderMap, Sha256Check,
  Signer, STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER, Verifier,
  type BodyDecoder, type ChunkSigning, type HttpRequest, type SignedRequest, type VerifiedRequest,
} from '../../src/sigv4/index.js';
import { sigv4VectorsDir } from '../helpers/paths.js';

// ---------------------------------------------------------------------------------------------
// Independent references
// ---------------------------------------------------------------------------------------------

/** Seeded PRNG (mulberry32), so that every random split is reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBytes(rng: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rng() * 256);
  return b;
}

/** Bit-by-bit reflected CRC-32 with init and final XOR 0xFFFFFFFF: the textbook definition. */
function refCrc(poly: number, data: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of data) {
    c = (c ^ byte) >>> 0;
    for (let k = 0; k < 8; k++) c = c & 1 ? ((c >>> 1) ^ poly) >>> 0 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}
const CRC32_POLY = 0xedb88320; // reflected 0x04C11DB7
const CRC32C_POLY = 0x82f63b78; // reflected 0x1EDC6F41 (Castagnoli)

function be32Base64(n: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b.toString('base64');
}

/** Trailer name -> base64 of the big-endian digest, computed without the library. */
const REF_CHECKSUM: Readonly<Record<string, (d: Uint8Array) => string>> = {
  'x-amz-checksum-crc32': (d) => be32Base64(refCrc(CRC32_POLY, d)),
  'x-amz-checksum-crc32c': (d) => be32Base64(refCrc(CRC32C_POLY, d)),
  'x-amz-checksum-sha1': (d) => createHash('sha1').update(d).digest('base64'),
  'x-amz-checksum-sha256': (d) => createHash('sha256').update(d).digest('base64'),
};
const CHECKSUM_NAMES = Object.keys(REF_CHECKSUM);

const hmacRaw = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();
const sha256Hex = (d: string | Uint8Array): string => createHash('sha256').update(d).digest('hex');

/** The chunk-signing context, derived from the secret as the SigV4 documentation describes. */
interface RefSigning {
  readonly key: Buffer;
  readonly seed: string;
  readonly amzDate: string;
  readonly scope: string;
}

function refSigning(secret: string, amzDate: string, scope: string, seed: string): RefSigning {
  const [date, region, service, terminator] = scope.split('/') as [string, string, string, string];
  const key = hmacRaw(hmacRaw(hmacRaw(hmacRaw('AWS4' + secret, date), region), service), terminator);
  return { key, seed, amzDate, scope };
}

/** https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html */
function refChunkSig(s: RefSigning, previous: string, data: Uint8Array): string {
  const sts = ['AWS4-HMAC-SHA256-PAYLOAD', s.amzDate, s.scope, previous, sha256Hex(''), sha256Hex(data)].join('\n');
  return hmacRaw(s.key, sts).toString('hex');
}

/** https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming-trailers.html */
function refTrailerSig(s: RefSigning, previous: string, trailers: ReadonlyArray<readonly [string, string]>): string {
  const canonical = trailers.map(([n, v]) => `${n}:${v}\n`).join('');
  const sts = ['AWS4-HMAC-SHA256-TRAILER', s.amzDate, s.scope, previous, sha256Hex(canonical)].join('\n');
  return hmacRaw(s.key, sts).toString('hex');
}

type SegKind = 'size' | 'data' | 'crlf' | 'final' | 'trailer' | 'end';
interface Seg {
  readonly kind: SegKind;
  readonly bytes: Buffer;
  /** Chunk index for size/data/crlf/final; -1 for the trailer section. */
  readonly chunk: number;
  readonly start: number;
}
interface Encoded {
  readonly body: Buffer;
  readonly segs: readonly Seg[];
  /** Signatures of the data chunks and then of the final chunk (signed bodies). */
  readonly chunkSigs: readonly string[];
  /** size + data + CRLF of each data chunk. */
  readonly frames: readonly Buffer[];
  /** The final chunk, the trailers and the closing CRLF. */
  readonly tail: Buffer;
}
interface RefOptions {
  readonly signing?: RefSigning | undefined;
  readonly trailers?: ReadonlyArray<readonly [string, string]>;
  /** Signed bodies with trailers: add x-amz-trailer-signature (default true). */
  readonly signTrailers?: boolean;
}

const CRLF = Buffer.from('\r\n', 'latin1');

/** aws-chunked as the AWS documentation describes it. */
function refEncode(chunks: readonly Uint8Array[], o: RefOptions = {}): Encoded {
  const segs: Seg[] = [];
  const sigs: string[] = [];
  let at = 0;
  const add = (kind: SegKind, bytes: Buffer, chunk: number) => {
    segs.push({ kind, bytes, chunk, start: at });
    at += bytes.length;
  };
  let previous = o.signing?.seed ?? '';
  const sizeLine = (data: Uint8Array) => {
    let line = data.length.toString(16);
    if (o.signing) {
      previous = refChunkSig(o.signing, previous, data);
      sigs.push(previous);
      line += `;chunk-signature=${previous}`;
    }
    return Buffer.from(line + '\r\n', 'latin1');
  };
  chunks.forEach((c, i) => {
    assert.ok(c.length > 0, 'refEncode: data chunks are not empty');
    add('size', sizeLine(c), i);
    add('data', Buffer.from(c), i);
    add('crlf', CRLF, i);
  });
  add('final', sizeLine(new Uint8Array(0)), chunks.length);
  const trailers = o.trailers ?? [];
  for (const [n, v] of trailers) add('trailer', Buffer.from(`${n}:${v}\r\n`, 'latin1'), -1);
  if (o.signing && trailers.length > 0 && (o.signTrailers ?? true)) {
    add('trailer', Buffer.from(`x-amz-trailer-signature:${refTrailerSig(o.signing, previous, trailers)}\r\n`, 'latin1'), -1);
  }
  add('end', CRLF, -1);
  const frames = chunks.map((_, i) => Buffer.concat(segs.filter((s) => s.chunk === i && s.kind !== 'final').map((s) => s.bytes)));
  const tail = Buffer.concat(segs.filter((s) => s.kind === 'final' || s.chunk === -1).map((s) => s.bytes));
  return { body: Buffer.concat(segs.map((s) => s.bytes)), segs, chunkSigs: sigs, frames, tail };
}

function segOf(enc: Encoded, kind: SegKind, chunk: number): Seg {
  const s = enc.segs.find((x) => x.kind === kind && x.chunk === chunk);
  assert.ok(s, `no ${kind} segment for chunk ${chunk}`);
  return s;
}

/** An independent parser of a signed aws-chunked body's framing (to read what an encoder wrote). */
function parseSignedFraming(body: Buffer): { chunks: Array<{ size: number; signature: string }>; rest: Buffer } {
  const chunks: Array<{ size: number; signature: string }> = [];
  let i = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', i, 'latin1');
    assert.ok(eol > i, `no chunk header at ${i}`);
    const m = /^([0-9a-f]+);chunk-signature=([0-9a-f]{64})$/.exec(body.subarray(i, eol).toString('latin1'));
    assert.ok(m, `bad chunk header at ${i}`);
    const size = parseInt(m[1]!, 16);
    chunks.push({ size, signature: m[2]! });
    i = eol + 2;
    if (size === 0) return { chunks, rest: body.subarray(i) };
    assert.equal(body.subarray(i + size, i + size + 2).toString('latin1'), '\r\n', `no CRLF after chunk data at ${i + size}`);
    i += size + 2;
  }
}

// ---------------------------------------------------------------------------------------------
// Feeding a decoder
// ---------------------------------------------------------------------------------------------

function randomPieces(buf: Buffer, rng: () => number, max = 4096): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length;) {
    const n = 1 + Math.floor(rng() * max);
    out.push(buf.subarray(i, i + n));
    i += n;
  }
  return out;
}

const bytewise = (buf: Buffer): Buffer[] => Array.from({ length: buf.length }, (_, i) => buf.subarray(i, i + 1));

/** Framing (sizes, CRLFs, trailers) one byte at a time; data in random pieces. */
function framingBytewise(enc: Encoded, rng: () => number, max = 700): Buffer[] {
  return enc.segs.flatMap((s) => (s.kind === 'data' ? randomPieces(s.bytes, rng, max) : bytewise(s.bytes)));
}

interface Driven {
  readonly out: Buffer;
  readonly error: unknown;
  /** Bytes pushed by the calls that returned (the failing call not included). */
  readonly consumed: number;
  /** After each successful push: [bytes consumed, decoded bytes returned so far]. */
  readonly trace: ReadonlyArray<readonly [number, number]>;
}

function drive(decoder: BodyDecoder, pieces: readonly Uint8Array[], callEnd = true): Driven {
  const out: Buffer[] = [];
  const trace: Array<[number, number]> = [];
  let consumed = 0;
  let total = 0;
  const take = (parts: Uint8Array[]) => {
    for (const p of parts) {
      out.push(Buffer.from(p)); // copied at once: the caller's buffers may be reused afterwards
      total += p.length;
    }
  };
  try {
    for (const piece of pieces) {
      take(decoder.push(piece));
      consumed += piece.length;
      trace.push([consumed, total]);
    }
    if (callEnd) take(decoder.end());
    return { out: Buffer.concat(out), error: undefined, consumed, trace };
  } catch (error) {
    return { out: Buffer.concat(out), error, consumed, trace };
  }
}

function assertCode(error: unknown, code: ErrorCode, what = ''): void {
  assert.ok(error instanceof PortcullisError, `${what}expected PortcullisError ${code}, got ${error === undefined ? 'no error' : String(error)}`);
  assert.equal(error.code, code, `${what}${error.message}`);
}

const isCode = (code: ErrorCode) => (e: unknown): boolean => {
  assertCode(e, code);
  return true;
};

function decodeOk(decoder: BodyDecoder, pieces: readonly Uint8Array[], what = ''): Driven {
  const d = drive(decoder, pieces);
  assert.equal(d.error, undefined, `${what}unexpected error: ${String(d.error)}`);
  return d;
}

function expectFail(decoder: BodyDecoder, pieces: readonly Uint8Array[], code: ErrorCode, what = ''): Driven {
  const d = drive(decoder, pieces);
  assertCode(d.error, code, what);
  return d;
}

// ---------------------------------------------------------------------------------------------
// A client that signs streaming requests, and a verifier that checks them
// ---------------------------------------------------------------------------------------------

const CREDS = { accessKeyId: 'AKIAPORTCULLISCHUNK1', secretAccessKey: 'Chunked/Test+Secret/0123456789abcdefghijKLMN' };
const REGION = 'us-east-1';
const NOW = Date.UTC(2024, 4, 24, 12, 30, 15);
const PRINCIPAL = { user: 'chunk-tester' } as const;
type Principal = typeof PRINCIPAL;
const DUMMY_SIGNING = refSigning('dummy', '20000101T000000Z', '20000101/us-east-1/s3/aws4_request', '0'.repeat(64));

function makeVerifier(maxChunkBytes?: number): Verifier<Principal> {
  return new Verifier<Principal>({
    region: REGION,
    clock: () => NOW,
    ...(maxChunkBytes !== undefined ? { maxChunkBytes } : {}),
    lookup: (id) => (id === CREDS.accessKeyId ? { status: 'found', secretAccessKey: CREDS.secretAccessKey, principal: PRINCIPAL } : { status: 'unknown' }),
  });
}

interface ClientOptions {
  readonly payloadHash: string;
  readonly chunks: readonly Uint8Array[];
  /** The x-amz-trailer header. */
  readonly trailer?: string;
  /** x-amz-decoded-content-length; default the real length. */
  readonly decodedLength?: number | 'omit';
  readonly path?: string;
  readonly maxChunkBytes?: number;
}

interface Client {
  readonly signed: SignedRequest;
  readonly req: HttpRequest;
  readonly verifier: Verifier<Principal>;
  readonly verified: VerifiedRequest<Principal>;
  /** The decoded data. */
  readonly data: Buffer;
  /** What encodeChunkedBody needs, from the signer's output (signed chunks only). */
  readonly signing: ChunkSigning | undefined;
  /** The same context derived by the reference (signed chunks only). */
  readonly ref: RefSigning | undefined;
  decoder(): BodyDecoder;
  /** The body built by the reference encoder; by default with the declared trailer and its right value. */
  encode(chunks?: readonly Uint8Array[], opts?: Omit<RefOptions, 'signing'>): Encoded;
}

function defaultTrailers(trailer: string | undefined, chunks: readonly Uint8Array[]): Array<[string, string]> {
  if (trailer === undefined) return [];
  const name = trailer.toLowerCase();
  const ref = REF_CHECKSUM[name];
  return ref === undefined ? [] : [[name, ref(Buffer.concat(chunks))]];
}

async function client(o: ClientOptions): Promise<Client> {
  const data = Buffer.concat(o.chunks);
  const signedChunks = o.payloadHash !== STREAMING_UNSIGNED_TRAILER;
  const path = o.path ?? '/portcullis-bucket/uploads/object.bin';
  // The wire length does not depend on the signatures' values, so a client knows it up front.
  const wireLength = refEncode(o.chunks, { signing: signedChunks ? DUMMY_SIGNING : undefined, trailers: defaultTrailers(o.trailer, o.chunks) }).body.length;
  const headers: Record<string, string> = {
    host: 'portcullis-bucket.s3.us-east-1.amazonaws.com',
    'content-encoding': 'aws-chunked',
    'content-length': String(wireLength),
    'content-type': 'application/octet-stream',
  };
  if (o.decodedLength !== 'omit') headers['x-amz-decoded-content-length'] = String(o.decodedLength ?? data.length);
  if (o.trailer !== undefined) headers['x-amz-trailer'] = o.trailer;
  const signed = new Signer({ clock: () => NOW }).sign(
    { method: 'PUT', path, headers },
    { credentials: CREDS, region: REGION, service: 's3', payloadHash: o.payloadHash, contentSha256Header: true },
  );
  const req: HttpRequest = { method: 'PUT', path, query: '', headers: HeaderMap.fromRecord(signed.headers) };
  const verifier = makeVerifier(o.maxChunkBytes);
  const verified = await verifier.verify(req);
  const signing: ChunkSigning | undefined = signedChunks
    ? { key: signed.signingKey!, seedSignature: signed.signature, amzDate: signed.amzDate, scope: signed.scope }
    : undefined;
  const ref = signedChunks ? refSigning(CREDS.secretAccessKey, signed.amzDate, signed.scope, signed.signature) : undefined;
  return {
    signed, req, verifier, verified, data, signing, ref,
    decoder: () => verifier.bodyDecoder(verified, req),
    encode: (chunks = o.chunks, opts = {}) => refEncode(chunks, { signing: ref, trailers: defaultTrailers(o.trailer, chunks), ...opts }),
  };
}

/** Random chunk data that contains CR, LF and text that looks like framing. */
function trickyChunks(seed: number, sizes: readonly number[]): Buffer[] {
  const rng = prng(seed);
  return sizes.map((n, i) => {
    const b = randomBytes(rng, n);
    const fake = Buffer.from(`\r\n0;chunk-signature=${'0'.repeat(64)}\r\n\r\n`, 'latin1');
    if (n > fake.length + 10) fake.copy(b, 5 + i);
    return b;
  });
}

function flip(buf: Buffer, offset: number): Buffer {
  const copy = Buffer.from(buf);
  copy[offset] = copy[offset]! ^ 0x01;
  return copy;
}

/** Replaces the last hex digit of a 64-hex signature that starts at `offset` (stays valid hex). */
function alterHexAt(buf: Buffer, offset: number): Buffer {
  const copy = Buffer.from(buf);
  const c = String.fromCharCode(copy[offset]!);
  copy[offset] = (c === '0' ? '1' : '0').charCodeAt(0);
  return copy;
}

// ---------------------------------------------------------------------------------------------
// 1. AWS's documented example
// ---------------------------------------------------------------------------------------------

interface ChunkedExample {
  credentials: { access_key_id: string; secret_access_key: string };
  timestamp: string;
  region: string;
  service: string;
  scope: string;
  seed_canonical_request: string;
  seed_signature: string;
  chunks: Array<{ size: number; signature: string }>;
}

const vectorsRoot = sigv4VectorsDir();
const examplePath = vectorsRoot === undefined ? undefined : join(vectorsRoot, 'supplemental', 'aws-docs-s3-streaming', 'chunked-example.json');
const exampleSkip = (examplePath === undefined || !existsSync(examplePath)) && process.env['CI'] !== 'true'
  ? 'the aws-chunked example is not in ../shared (set CI=true to make this fail)'
  : false;

describe("AWS's documented aws-chunked example (sigv4-streaming)", { skip: exampleSkip }, () => {
  const load = () => {
    assert.ok(examplePath !== undefined && existsSync(examplePath), `the aws-chunked example is missing: expected it at ${examplePath}`);
    const ex = JSON.parse(readFileSync(examplePath, 'utf8')) as ChunkedExample;
    // The seed canonical request: method, path, query, headers, blank line, signed headers, payload hash.
    const lines = ex.seed_canonical_request.split('\n');
    const [method, path, query] = lines as [string, string, string];
    const blank = lines.indexOf('', 3);
    const canonicalHeaders = new Map(lines.slice(3, blank).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)] as const));
    const signedHeaders = lines[blank + 1]!;
    const payloadHash = lines[blank + 2]!;
    const time = Date.parse(ex.timestamp.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'));
    assert.ok(Number.isFinite(time), `bad timestamp ${ex.timestamp}`);
    // x-amz-date and x-amz-content-sha256 are the signer's to add.
    const toSign: Record<string, string> = {};
    for (const [n, v] of canonicalHeaders) if (n !== 'x-amz-date' && n !== 'x-amz-content-sha256') toSign[n] = v;
    const creds = { accessKeyId: ex.credentials.access_key_id, secretAccessKey: ex.credentials.secret_access_key };
    const signed = new Signer({ clock: () => time }).sign(
      { method, path, headers: toSign },
      { credentials: creds, region: ex.region, service: ex.service, payloadHash, contentSha256Header: true },
    );
    const req: HttpRequest = { method, path, query, headers: HeaderMap.fromRecord(signed.headers) };
    const verifier = new Verifier({
      region: ex.region,
      clock: () => time,
      lookup: (id) => (id === creds.accessKeyId ? { status: 'found', secretAccessKey: creds.secretAccessKey, principal: 'example' } : { status: 'unknown' }),
    });
    const data = ex.chunks.filter((c) => c.size > 0).map((c) => Buffer.alloc(c.size, 'a'));
    const signing: ChunkSigning = { key: signed.signingKey!, seedSignature: signed.signature, amzDate: signed.amzDate, scope: signed.scope };
    const body = encodeChunkedBody(data, { signing });
    return { ex, method, path, canonicalHeaders, signedHeaders, payloadHash, signed, req, verifier, data, signing, body, creds };
  };

  it('describes the request we expect (PUT /examplebucket/chunkObject.txt, s3, STREAMING-AWS4-HMAC-SHA256-PAYLOAD)', () => {
    const t = load();
    assert.equal(t.method, 'PUT');
    assert.equal(t.path, '/examplebucket/chunkObject.txt');
    assert.equal(t.ex.service, 's3');
    assert.equal(t.payloadHash, STREAMING_SIGNED);
    assert.equal(t.ex.timestamp, '20130524T000000Z');
    assert.equal(t.canonicalHeaders.get('content-encoding'), 'aws-chunked');
  });

  it('our Signer reproduces the seed signature', () => {
    const t = load();
    assert.equal(t.signed.amzDate, t.ex.timestamp);
    assert.equal(t.signed.scope, t.ex.scope);
    assert.equal(t.signed.headers['x-amz-date'], t.canonicalHeaders.get('x-amz-date'));
    assert.equal(t.signed.headers['x-amz-content-sha256'], STREAMING_SIGNED);
    assert.match(String(t.signed.headers['authorization']), new RegExp(`SignedHeaders=${t.signedHeaders}, `));
    assert.equal(t.signed.signature, t.ex.seed_signature);
  });

  it('encodeChunkedBody writes the published chunk signatures and the published content-length', () => {
    const t = load();
    const parsed = parseSignedFraming(t.body);
    assert.deepEqual(parsed.chunks, t.ex.chunks.map((c) => ({ size: c.size, signature: c.signature })));
    assert.equal(parsed.rest.toString('latin1'), '\r\n');
    assert.equal(t.body.length, Number(t.canonicalHeaders.get('content-length')));
    assert.equal(t.body.length, 66824);
    // The data between the framing is the data we gave.
    assert.deepEqual(t.data.map((d) => d.length), [65536, 1024]);
    assert.equal(t.body.subarray(t.body.indexOf('\r\n') + 2, t.body.indexOf('\r\n') + 2 + 65536).equals(t.data[0]!), true);
  });

  it('the reference encoder in this file reproduces the published signatures too (so it can be trusted below)', () => {
    const t = load();
    const ref = refEncode(t.data, { signing: refSigning(t.creds.secretAccessKey, t.ex.timestamp, t.ex.scope, t.ex.seed_signature) });
    assert.deepEqual(ref.chunkSigs, t.ex.chunks.map((c) => c.signature));
    assert.equal(ref.body.equals(t.body), true);
  });

  it('the request verifies and declares a signed aws-chunked payload of 66560 decoded bytes', async () => {
    const t = load();
    const verified = await t.verifier.verify(t.req);
    assert.equal(verified.principal, 'example');
    assert.deepEqual(verified.payload, { kind: 'chunked', signed: true, trailer: false, decodedLength: 66560 });
    assert.equal(Number(t.canonicalHeaders.get('x-amz-decoded-content-length')), 66560);
  });

  it('decodes to the 66560 bytes whatever the split points, releasing each chunk only once its signature checked', async () => {
    const t = load();
    const verified = await t.verifier.verify(t.req);
    const expected = Buffer.concat(t.data);
    const enc = refEncode(t.data, { signing: refSigning(t.creds.secretAccessKey, t.ex.timestamp, t.ex.scope, t.ex.seed_signature) });
    // Offsets after which each chunk may be released: the end of the CRLF that follows its data.
    const releaseAt = t.data.map((d, i) => ({ end: segOf(enc, 'crlf', i).start + 2, size: d.length }));
    const releasable = (consumed: number) => releaseAt.filter((r) => r.end <= consumed).reduce((n, r) => n + r.size, 0);
    const strategies: Array<[string, Buffer[]]> = [
      ['one push', [t.body]],
      ['every byte on its own', bytewise(t.body)],
    ];
    for (const seed of [1, 2, 3, 4, 5]) strategies.push([`framing byte by byte, data split randomly (seed ${seed})`, framingBytewise(enc, prng(seed))]);
    for (const seed of [11, 12, 13, 14, 15]) strategies.push([`random splits (seed ${seed})`, randomPieces(t.body, prng(seed), 9000)]);
    for (const seed of [21, 22]) strategies.push([`small random splits (seed ${seed})`, randomPieces(t.body, prng(seed), 7)]);
    for (const [name, pieces] of strategies) {
      assert.equal(Buffer.concat(pieces).equals(t.body), true, name);
      const d = decodeOk(t.verifier.bodyDecoder(verified, t.req), pieces, `${name}: `);
      assert.equal(d.out.length, 66560, name);
      assert.equal(d.out.equals(expected), true, name);
      for (const [consumed, returned] of d.trace) {
        assert.ok(returned <= releasable(consumed), `${name}: ${returned} bytes returned after ${consumed} wire bytes, before their chunk signature was checked`);
        assert.equal(returned, releasable(consumed), `${name}: a chunk whose signature was checked is held back after ${consumed} wire bytes`);
      }
    }
  });

  it('holds copies of unverified data: a caller reusing its buffer does not change what is returned', async () => {
    const t = load();
    const verified = await t.verifier.verify(t.req);
    const decoder = t.verifier.bodyDecoder(verified, t.req);
    const scratch = Buffer.alloc(1000);
    const out: Buffer[] = [];
    for (const piece of randomPieces(t.body, prng(7), 1000)) {
      piece.copy(scratch);
      for (const p of decoder.push(scratch.subarray(0, piece.length))) out.push(Buffer.from(p));
      scratch.fill(0x5a);
    }
    decoder.end();
    assert.equal(Buffer.concat(out).equals(Buffer.concat(t.data)), true);
  });

  it('honors x-amz-decoded-content-length: another declared length fails with IncompleteBody', () => {
    const t = load();
    for (const declared of [66559, 66561, 0, 65536]) {
      const decoder = new ChunkedDecoder({ signing: t.signing, trailer: undefined, decodedLength: declared, maxChunkBytes: 1 << 20 });
      expectFail(decoder, randomPieces(t.body, prng(declared), 5000), 'IncompleteBody', `declared ${declared}: `);
    }
    const exact = new ChunkedDecoder({ signing: t.signing, trailer: undefined, decodedLength: 66560, maxChunkBytes: 1 << 20 });
    assert.equal(decodeOk(exact, [t.body]).out.length, 66560);
  });

  it('rejects the published body with one data byte changed, returning nothing of it', async () => {
    const t = load();
    const verified = await t.verifier.verify(t.req);
    const bad = flip(t.body, t.body.indexOf('\r\n') + 2 + 40000);
    const d = expectFail(t.verifier.bodyDecoder(verified, t.req), randomPieces(bad, prng(3), 4096), 'SignatureDoesNotMatch');
    assert.equal(d.out.length, 0);
  });
});

// ---------------------------------------------------------------------------------------------
// 2. Chained chunk signatures: the first bad chunk fails
// ---------------------------------------------------------------------------------------------

describe('signed chunks fail at the first bad chunk', () => {
  const SIZES = [3000, 2000, 1000];
  const signedClient = (seed = 100, path?: string) =>
    client({ payloadHash: STREAMING_SIGNED, chunks: trickyChunks(seed, SIZES), ...(path !== undefined ? { path } : {}) });

  it('a client-built request verifies, encodeChunkedBody matches the reference encoder, and the body decodes', async () => {
    const c = await signedClient();
    assert.deepEqual(c.verified.payload, { kind: 'chunked', signed: true, trailer: false, decodedLength: 6000 });
    const enc = c.encode();
    assert.equal(encodeChunkedBody(trickyChunks(100, SIZES), { signing: c.signing! }).equals(enc.body), true);
    assert.equal(enc.body.length, Number(c.signed.headers['content-length']));
    for (const seed of [1, 2, 3]) {
      assert.equal(decodeOk(c.decoder(), framingBytewise(enc, prng(seed), 300)).out.equals(c.data), true);
      assert.equal(decodeOk(c.decoder(), randomPieces(enc.body, prng(seed), 50)).out.equals(c.data), true);
    }
  });

  it('a changed byte in chunk 1: SignatureDoesNotMatch before any byte of chunk 1 is returned, and chunk 2 never is', async () => {
    const c = await signedClient();
    const enc = c.encode();
    const data0 = segOf(enc, 'data', 0);
    const crlf0 = segOf(enc, 'crlf', 0);
    for (const at of [0, 1, 1500, data0.bytes.length - 1]) {
      const bad = flip(enc.body, data0.start + at);
      // Byte by byte: the failure is at the end of chunk 1, before a byte of chunk 2 is read.
      const d = expectFail(c.decoder(), bytewise(bad), 'SignatureDoesNotMatch', `byte ${at}: `);
      assert.equal(d.out.length, 0, `byte ${at}: bytes of the bad chunk were returned`);
      assert.ok(d.consumed < crlf0.start + 2, `byte ${at}: failed only after reading ${d.consumed} bytes`);
      assert.equal(d.consumed, crlf0.start + 1, `byte ${at}: the failure is at the CRLF that ends chunk 1`);
      // In random pieces too, and in one push.
      assert.equal(expectFail(c.decoder(), randomPieces(bad, prng(at), 500), 'SignatureDoesNotMatch').out.length, 0);
      assert.equal(expectFail(c.decoder(), [bad], 'SignatureDoesNotMatch').out.length, 0);
    }
  });

  it('once a chunk failed, the decoder releases nothing more even if the caller keeps pushing', async () => {
    const c = await signedClient();
    const enc = c.encode();
    const bad = flip(enc.body, segOf(enc, 'data', 0).start + 10);
    const decoder = c.decoder();
    const cut = segOf(enc, 'crlf', 0).start + 2;
    assert.throws(() => decoder.push(bad.subarray(0, cut)), isCode('SignatureDoesNotMatch'));
    let returned = 0;
    for (const piece of randomPieces(bad.subarray(cut), prng(9), 200)) {
      try {
        for (const p of decoder.push(piece)) returned += p.length;
      } catch {
        // an error is fine; releasing bytes is not
      }
    }
    assert.equal(returned, 0);
  });

  it('a changed byte in chunk 2: chunk 1 is returned, nothing of chunk 2', async () => {
    const c = await signedClient();
    const enc = c.encode();
    const bad = flip(enc.body, segOf(enc, 'data', 1).start + 999);
    const d = expectFail(c.decoder(), bytewise(bad), 'SignatureDoesNotMatch');
    assert.equal(d.out.equals(segOf(enc, 'data', 0).bytes), true);
    assert.equal(d.consumed, segOf(enc, 'crlf', 1).start + 1);
  });

  it('a bad signature on a data chunk header fails that chunk', async () => {
    const c = await signedClient();
    const enc = c.encode();
    const size1 = segOf(enc, 'size', 1);
    const bad = alterHexAt(enc.body, size1.start + size1.bytes.length - 3);
    const d = expectFail(c.decoder(), randomPieces(bad, prng(4), 333), 'SignatureDoesNotMatch');
    assert.equal(d.out.equals(segOf(enc, 'data', 0).bytes), true);
  });

  it('a bad signature on the final chunk fails the body', async () => {
    const c = await signedClient();
    const enc = c.encode();
    const fin = segOf(enc, 'final', SIZES.length);
    for (const offset of [fin.start + '0;chunk-signature='.length, fin.start + fin.bytes.length - 3]) {
      const bad = alterHexAt(enc.body, offset);
      expectFail(c.decoder(), bytewise(bad), 'SignatureDoesNotMatch');
      expectFail(c.decoder(), [bad], 'SignatureDoesNotMatch');
    }
  });

  it('swapped chunks fail at the first chunk out of place', async () => {
    const c = await signedClient();
    const enc = c.encode();
    const [f0, f1, f2] = enc.frames as [Buffer, Buffer, Buffer];
    const d = expectFail(c.decoder(), bytewise(Buffer.concat([f1, f0, f2, enc.tail])), 'SignatureDoesNotMatch');
    assert.equal(d.out.length, 0);
    const d2 = expectFail(c.decoder(), [Buffer.concat([f0, f2, f1, enc.tail])], 'SignatureDoesNotMatch');
    assert.equal(d2.out.length, 0, 'one push: nothing of a failing push is returned');
    const d3 = expectFail(c.decoder(), bytewise(Buffer.concat([f0, f2, f1, enc.tail])), 'SignatureDoesNotMatch');
    assert.equal(d3.out.equals(segOf(enc, 'data', 0).bytes), true);
  });

  it('a dropped chunk fails at the chunk after it', async () => {
    const c = await signedClient();
    const enc = c.encode();
    const [f0, , f2] = enc.frames as [Buffer, Buffer, Buffer];
    const d = expectFail(c.decoder(), bytewise(Buffer.concat([f0, f2, enc.tail])), 'SignatureDoesNotMatch');
    assert.equal(d.out.equals(segOf(enc, 'data', 0).bytes), true);
    // Dropping the last data chunk: the final chunk's signature no longer chains.
    const [g0, g1] = enc.frames as [Buffer, Buffer, Buffer];
    expectFail(c.decoder(), [Buffer.concat([g0, g1, enc.tail])], 'SignatureDoesNotMatch');
  });

  it('a chunk repeated with the same data fails: signatures chain, they do not just cover the data', async () => {
    const x = trickyChunks(7, [800])[0]!;
    const c = await client({ payloadHash: STREAMING_SIGNED, chunks: [x, x, Buffer.from('tail')] });
    const enc = c.encode();
    const [f0, f1, f2] = enc.frames as [Buffer, Buffer, Buffer];
    assert.notEqual(f0.toString('latin1'), f1.toString('latin1'));
    const d = expectFail(c.decoder(), bytewise(Buffer.concat([f0, f0, f2, enc.tail])), 'SignatureDoesNotMatch');
    assert.equal(d.out.equals(x), true);
  });

  it('a chunk taken from another request fails, even with the same data', async () => {
    const a = await signedClient(100, '/portcullis-bucket/a.bin');
    const b = await signedClient(100, '/portcullis-bucket/b.bin');
    assert.notEqual(a.signed.signature, b.signed.signature);
    const encA = a.encode();
    const encB = b.encode();
    const [, a1, a2] = encA.frames as [Buffer, Buffer, Buffer];
    const [b0, b1] = encB.frames as [Buffer, Buffer, Buffer];
    const d = expectFail(a.decoder(), bytewise(Buffer.concat([b0, a1, a2, encA.tail])), 'SignatureDoesNotMatch');
    assert.equal(d.out.length, 0);
    // B's whole body under A's headers, and A's first chunk followed by B's second.
    assert.equal(expectFail(a.decoder(), [encB.body], 'SignatureDoesNotMatch').out.length, 0);
    const [a0] = encA.frames as [Buffer, Buffer, Buffer];
    const d2 = expectFail(a.decoder(), bytewise(Buffer.concat([a0, b1, a2, encA.tail])), 'SignatureDoesNotMatch');
    assert.equal(d2.out.equals(segOf(encA, 'data', 0).bytes), true);
    // B's body decodes under B.
    assert.equal(decodeOk(b.decoder(), [encB.body]).out.equals(b.data), true);
  });

  it('random chunkings and random split points decode to the data (property)', async () => {
    const c = await client({ payloadHash: STREAMING_SIGNED, chunks: [Buffer.from('x')], decodedLength: 'omit' });
    assert.equal(c.verified.payload.kind === 'chunked' && c.verified.payload.decodedLength, undefined);
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { minLength: 0, maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 50 }),
        (chunks, sizes) => {
          const body = encodeChunkedBody(chunks, { signing: c.signing! });
          assert.equal(body.equals(c.encode(chunks).body), true);
          const pieces: Buffer[] = [];
          for (let i = 0, k = 0; i < body.length; k++) {
            const n = sizes[k % sizes.length]!;
            pieces.push(body.subarray(i, i + n));
            i += n;
          }
          const d = decodeOk(c.decoder(), pieces);
          assert.equal(d.out.equals(Buffer.concat(chunks)), true);
        },
      ),
      { seed: 20240524, numRuns: 200 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// 3. Framing errors
// ---------------------------------------------------------------------------------------------

describe('aws-chunked framing errors', () => {
  const SIZES = [1200, 700];
  const signedClient = () => client({ payloadHash: STREAMING_SIGNED, chunks: trickyChunks(300, SIZES) });
  const unsignedClient = () => client({ payloadHash: STREAMING_UNSIGNED_TRAILER, chunks: trickyChunks(300, SIZES), trailer: 'x-amz-checksum-crc32c' });

  const splice = (body: Buffer, at: number, remove: number, insert: string | Buffer) =>
    Buffer.concat([body.subarray(0, at), typeof insert === 'string' ? Buffer.from(insert, 'latin1') : insert, body.subarray(at + remove)]);

  it('missing CRLF after the data: InvalidChunkedEncoding', async () => {
    for (const make of [signedClient, unsignedClient]) {
      const c = await make();
      const enc = c.encode();
      const crlf = segOf(enc, 'crlf', 0);
      const noCrlf = splice(enc.body, crlf.start, 2, '');
      const noCr = splice(enc.body, crlf.start, 1, '');
      const noLf = splice(enc.body, crlf.start + 1, 1, '');
      for (const [name, bad] of [['no CRLF', noCrlf], ['LF only', noCr], ['CR only', noLf]] as const) {
        const d = expectFail(c.decoder(), bytewise(bad), 'InvalidChunkedEncoding', `${name}: `);
        if (c.signing) assert.equal(d.out.length, 0, name);
        expectFail(c.decoder(), [bad], 'InvalidChunkedEncoding', `${name}, one push: `);
      }
      // The last data chunk, right before the final chunk.
      const last = segOf(enc, 'crlf', SIZES.length - 1);
      expectFail(c.decoder(), [splice(enc.body, last.start, 2, '')], 'InvalidChunkedEncoding', 'last chunk: ');
    }
  });

  it('data longer or shorter than the declared size: InvalidChunkedEncoding', async () => {
    for (const make of [signedClient, unsignedClient]) {
      const c = await make();
      const enc = c.encode();
      const crlf = segOf(enc, 'crlf', 0);
      const longer = splice(enc.body, crlf.start, 0, 'Z');
      const d = expectFail(c.decoder(), bytewise(longer), 'InvalidChunkedEncoding', 'one extra byte: ');
      if (c.signing) assert.equal(d.out.length, 0);
      expectFail(c.decoder(), [splice(enc.body, crlf.start, 0, Buffer.alloc(5000, 0x61))], 'InvalidChunkedEncoding', '5000 extra bytes: ');
      const shorter = splice(enc.body, crlf.start - 1, 1, '');
      expectFail(c.decoder(), bytewise(shorter), 'InvalidChunkedEncoding', 'one byte short: ');
    }
  });

  it('a size that is not hex, or a header that is not the expected shape: InvalidChunkedEncoding', async () => {
    for (const make of [signedClient, unsignedClient]) {
      const c = await make();
      const enc = c.encode();
      const size0 = segOf(enc, 'size', 0);
      const hex = SIZES[0]!.toString(16);
      for (const bogus of ['zz', '4b0g', '-4b0', '+4b0', '0x4b0', ' 4b0', '4b0 ', '', '4B0;', '4,b0']) {
        const bad = splice(enc.body, size0.start, hex.length, bogus);
        const d = expectFail(c.decoder(), bytewise(bad), 'InvalidChunkedEncoding', `size \`${bogus}\`: `);
        assert.equal(d.out.length, 0);
      }
      // The final chunk's size too.
      const fin = segOf(enc, 'final', SIZES.length);
      expectFail(c.decoder(), [splice(enc.body, fin.start, 1, 'x')], 'InvalidChunkedEncoding', 'final size: ');
    }
    const c = await signedClient();
    const enc = c.encode();
    const size0 = segOf(enc, 'size', 0);
    // A signed body's chunk without its signature, or with a mangled one.
    for (const header of ['4b0', '4b0;', '4b0;chunk-signature=', `4b0;chunk-signature=${'a'.repeat(63)}`, `4b0;chunk-signature=${'g'.repeat(64)}`, `4b0;chunk-signature=${'a'.repeat(65)}`, `4b0;chunk-sig=${'a'.repeat(64)}`]) {
      expectFail(c.decoder(), [splice(enc.body, size0.start, size0.bytes.length - 2, header)], 'InvalidChunkedEncoding', `header \`${header.slice(0, 30)}\`: `);
    }
  });

  it('a line that never ends: InvalidChunkedEncoding, without reading the whole line', async () => {
    for (const make of [signedClient, unsignedClient]) {
      const c = await make();
      const long = Buffer.alloc(4000, '0'.charCodeAt(0));
      const d = expectFail(c.decoder(), bytewise(long), 'InvalidChunkedEncoding', 'header line: ');
      assert.ok(d.consumed < 2000, `read ${d.consumed} bytes of one line`);
      expectFail(c.decoder(), [long], 'InvalidChunkedEncoding', 'header line, one push: ');
      // A trailer line that never ends.
      const enc = c.encode();
      const tail = Buffer.concat([enc.frames[0]!, enc.frames[1]!, segOf(enc, 'final', SIZES.length).bytes, Buffer.from('x-amz-checksum-crc32c:'), Buffer.alloc(4000, 0x41)]);
      const d2 = expectFail(c.decoder(), randomPieces(tail, prng(1), 300), 'InvalidChunkedEncoding', 'trailer line: ');
      assert.ok(d2.consumed < tail.length - 2000);
    }
  });

  it('bytes after the final chunk: InvalidChunkedEncoding', async () => {
    for (const make of [signedClient, unsignedClient]) {
      const c = await make();
      const enc = c.encode();
      for (const extra of ['x', '\r\n', '0\r\n\r\n', '\0']) {
        expectFail(c.decoder(), [Buffer.concat([enc.body, Buffer.from(extra, 'latin1')])], 'InvalidChunkedEncoding', `one push + ${JSON.stringify(extra)}: `);
        expectFail(c.decoder(), [enc.body, Buffer.from(extra, 'latin1')], 'InvalidChunkedEncoding', `separate push ${JSON.stringify(extra)}: `);
      }
      // A second complete body after the first.
      expectFail(c.decoder(), [Buffer.concat([enc.body, enc.body])], 'InvalidChunkedEncoding', 'body twice: ');
    }
  });

  it('a body cut anywhere: end() throws IncompleteBody (every prefix, signed, signed trailer, unsigned trailer)', async () => {
    const chunks = trickyChunks(5, [40, 7]);
    for (const [payloadHash, trailer] of [[STREAMING_SIGNED, undefined], [STREAMING_SIGNED_TRAILER, 'x-amz-checksum-sha256'], [STREAMING_UNSIGNED_TRAILER, 'x-amz-checksum-crc32']] as const) {
      const c = await client({ payloadHash, chunks, ...(trailer !== undefined ? { trailer } : {}) });
      const body = c.encode().body;
      assert.equal(decodeOk(c.decoder(), [body]).out.equals(c.data), true, payloadHash);
      for (let n = 0; n < body.length; n++) {
        const decoder = c.decoder();
        assert.doesNotThrow(() => decoder.push(body.subarray(0, n)), `${payloadHash}: prefix ${n}`);
        assert.throws(() => decoder.end(), isCode('IncompleteBody'), `${payloadHash}: prefix ${n}`);
      }
    }
    // An empty body.
    const c = await signedClient();
    assert.throws(() => c.decoder().end(), isCode('IncompleteBody'));
  });

  it('a decoded length other than x-amz-decoded-content-length: IncompleteBody', async () => {
    const chunks = trickyChunks(8, [500, 300]);
    for (const [payloadHash, trailer] of [[STREAMING_SIGNED, undefined], [STREAMING_SIGNED_TRAILER, 'x-amz-checksum-crc32c'], [STREAMING_UNSIGNED_TRAILER, 'x-amz-checksum-sha1']] as const) {
      for (const declared of [0, 799, 801, 500, 1_000_000]) {
        const c = await client({ payloadHash, chunks, decodedLength: declared, ...(trailer !== undefined ? { trailer } : {}) });
        assert.equal(c.verified.payload.kind === 'chunked' && c.verified.payload.decodedLength, declared);
        expectFail(c.decoder(), randomPieces(c.encode().body, prng(declared), 200), 'IncompleteBody', `${payloadHash} declared ${declared}: `);
      }
      const exact = await client({ payloadHash, chunks, decodedLength: 800, ...(trailer !== undefined ? { trailer } : {}) });
      assert.equal(decodeOk(exact.decoder(), [exact.encode().body]).out.length, 800);
      const omitted = await client({ payloadHash, chunks, decodedLength: 'omit', ...(trailer !== undefined ? { trailer } : {}) });
      assert.equal(decodeOk(omitted.decoder(), [omitted.encode().body]).out.length, 800);
    }
  });

  it('a chunk larger than maxChunkBytes is rejected at its header, before its data is read', async () => {
    const fits = await client({ payloadHash: STREAMING_SIGNED, chunks: [Buffer.alloc(1024, 1), Buffer.alloc(1, 2)], maxChunkBytes: 1024 });
    assert.equal(decodeOk(fits.decoder(), [fits.encode().body]).out.equals(fits.data), true);
    for (const payloadHash of [STREAMING_SIGNED, STREAMING_UNSIGNED_TRAILER]) {
      const trailer = payloadHash === STREAMING_UNSIGNED_TRAILER ? { trailer: 'x-amz-checksum-crc32' } : {};
      const c = await client({ payloadHash, chunks: [Buffer.alloc(1025, 1)], maxChunkBytes: 1024, ...trailer });
      const enc = c.encode();
      const header = segOf(enc, 'size', 0);
      const decoder = c.decoder();
      assert.throws(() => decoder.push(enc.body.subarray(0, header.bytes.length)), isCode('InvalidChunkedEncoding'), payloadHash);
      expectFail(c.decoder(), [enc.body], 'InvalidChunkedEncoding', `${payloadHash}: `);
    }
    // The default limit: a declared size of 2^64-1 fails at once.
    const c = await signedClient();
    const huge = Buffer.from(`ffffffffffffffff;chunk-signature=${'a'.repeat(64)}\r\n`, 'latin1');
    assert.throws(() => c.decoder().push(huge), isCode('InvalidChunkedEncoding'));
  });
});

// ---------------------------------------------------------------------------------------------
// 4. STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER
// ---------------------------------------------------------------------------------------------

describe('STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: signed chunks, checksum trailer, trailer signature', () => {
  const CHUNKS = trickyChunks(400, [2048, 1000, 33]);
  const signedTrailer = (trailer = 'x-amz-checksum-crc32c') => client({ payloadHash: STREAMING_SIGNED_TRAILER, chunks: CHUNKS, trailer });
  const trailerSigSeg = (enc: Encoded) => {
    const s = enc.segs.find((x) => x.kind === 'trailer' && x.bytes.toString('latin1').startsWith('x-amz-trailer-signature:'));
    assert.ok(s);
    return s;
  };

  it('a good body decodes, and encodeChunkedBody writes the same bytes as the reference (each checksum)', async () => {
    for (const name of CHECKSUM_NAMES) {
      const c = await signedTrailer(name);
      assert.deepEqual(c.verified.payload, { kind: 'chunked', signed: true, trailer: true, decodedLength: 3081 });
      const enc = c.encode();
      assert.equal(encodeChunkedBody(CHUNKS, { signing: c.signing!, trailer: name }).toString('latin1'), enc.body.toString('latin1'), name);
      assert.equal(enc.body.length, Number(c.signed.headers['content-length']));
      for (const seed of [1, 2]) {
        const d = decodeOk(c.decoder(), framingBytewise(enc, prng(seed), 500), `${name}: `);
        assert.equal(d.out.equals(c.data), true, name);
        assert.equal(decodeOk(c.decoder(), randomPieces(enc.body, prng(seed), 64)).out.equals(c.data), true, name);
      }
    }
  });

  it('a bad trailer signature: SignatureDoesNotMatch', async () => {
    const c = await signedTrailer();
    const enc = c.encode();
    const sig = trailerSigSeg(enc);
    for (const at of ['x-amz-trailer-signature:'.length, sig.bytes.length - 3]) {
      expectFail(c.decoder(), bytewise(alterHexAt(enc.body, sig.start + at)), 'SignatureDoesNotMatch', `hex ${at}: `);
    }
    // Signed over the trailers but chained to the seed instead of the final chunk.
    const wrongChain = refTrailerSig(c.ref!, c.ref!.seed, defaultTrailers('x-amz-checksum-crc32c', CHUNKS));
    const body = Buffer.concat([enc.body.subarray(0, sig.start), Buffer.from(`x-amz-trailer-signature:${wrongChain}\r\n\r\n`)]);
    expectFail(c.decoder(), [body], 'SignatureDoesNotMatch', 'chained to the seed: ');
    // The trailer section of another request.
    const other = await client({ payloadHash: STREAMING_SIGNED_TRAILER, chunks: CHUNKS, trailer: 'x-amz-checksum-crc32c', path: '/portcullis-bucket/other' });
    const otherEnc = other.encode();
    const otherTrailers = otherEnc.body.subarray(segOf(otherEnc, 'final', 3).start + segOf(otherEnc, 'final', 3).bytes.length);
    const fin = segOf(enc, 'final', 3);
    expectFail(c.decoder(), [Buffer.concat([enc.body.subarray(0, fin.start + fin.bytes.length), otherTrailers])], 'SignatureDoesNotMatch', 'trailers of another request: ');
  });

  it('a checksum value changed after signing: SignatureDoesNotMatch', async () => {
    const c = await signedTrailer();
    const enc = c.encode();
    const good = defaultTrailers('x-amz-checksum-crc32c', CHUNKS)[0]![1];
    const wrong = be32Base64(refCrc(CRC32C_POLY, Buffer.from('something else')));
    assert.notEqual(wrong, good);
    const bad = Buffer.from(enc.body.toString('latin1').replace(`x-amz-checksum-crc32c:${good}\r\n`, `x-amz-checksum-crc32c:${wrong}\r\n`), 'latin1');
    assert.notEqual(bad.toString('latin1'), enc.body.toString('latin1'));
    expectFail(c.decoder(), [bad], 'SignatureDoesNotMatch');
  });

  it('no trailer signature: MalformedTrailer', async () => {
    const c = await signedTrailer();
    const noSig = c.encode(CHUNKS, { signTrailers: false });
    assert.ok(!noSig.body.toString('latin1').includes('x-amz-trailer-signature'));
    expectFail(c.decoder(), bytewise(noSig.body), 'MalformedTrailer');
    // A trailer signature that is not 64 characters long.
    const enc = c.encode();
    const sig = trailerSigSeg(enc);
    const short = Buffer.concat([enc.body.subarray(0, sig.start + sig.bytes.length - 3), Buffer.from('\r\n\r\n')]);
    expectFail(c.decoder(), [short], 'MalformedTrailer', '63 hex: ');
  });

  it('a wrong checksum, correctly signed: BadDigest', async () => {
    for (const name of CHECKSUM_NAMES) {
      const c = await signedTrailer(name);
      const wrong = REF_CHECKSUM[name]!(Buffer.from('not the body'));
      const enc = c.encode(CHUNKS, { trailers: [[name, wrong]] });
      const d = expectFail(c.decoder(), randomPieces(enc.body, prng(2), 100), 'BadDigest', `${name}: `);
      assert.equal(d.out.equals(c.data), true, 'the data chunks were each signed, so they were released');
    }
  });

  it('tampered data with the right checksum of the tampered data: SignatureDoesNotMatch (the chunk signatures catch it first)', async () => {
    const c = await signedTrailer();
    const tampered = CHUNKS.map((b, i) => (i === 1 ? flip(b, 5) : b));
    const enc = c.encode(CHUNKS, { trailers: defaultTrailers('x-amz-checksum-crc32c', tampered) });
    const bad = Buffer.concat([...enc.frames.map((f, i) => (i === 1 ? flip(f, segOf(enc, 'data', 1).start - segOf(enc, 'size', 1).start + 5) : f)), enc.tail]);
    const d = expectFail(c.decoder(), bytewise(bad), 'SignatureDoesNotMatch');
    assert.equal(d.out.equals(CHUNKS[0]!), true);
  });

  it('an undeclared extra trailer, correctly signed: MalformedTrailer', async () => {
    const c = await signedTrailer();
    const declared = defaultTrailers('x-amz-checksum-crc32c', CHUNKS);
    for (const trailers of [
      [...declared, ['x-amz-meta-extra', 'surprise']],
      [['x-amz-meta-extra', 'surprise'], ...declared],
      [...declared, ['x-amz-checksum-sha256', REF_CHECKSUM['x-amz-checksum-sha256']!(Buffer.concat(CHUNKS))]],
      [...declared, ...declared],
      [],
      [['x-amz-checksum-sha256', REF_CHECKSUM['x-amz-checksum-sha256']!(Buffer.concat(CHUNKS))]],
    ] as Array<Array<[string, string]>>) {
      const enc = c.encode(CHUNKS, { trailers });
      if (trailers.length === 0) {
        // No trailers at all: the reference writes no signature then; sign the empty section.
        const fin = segOf(enc, 'final', 3);
        const body = Buffer.concat([enc.body.subarray(0, fin.start + fin.bytes.length), Buffer.from(`x-amz-trailer-signature:${refTrailerSig(c.ref!, enc.chunkSigs.at(-1)!, [])}\r\n\r\n`)]);
        expectFail(c.decoder(), [body], 'MalformedTrailer', 'no checksum trailer: ');
        expectFail(c.decoder(), [enc.body], 'MalformedTrailer', 'no trailer section: ');
        continue;
      }
      expectFail(c.decoder(), [enc.body], 'MalformedTrailer', `${trailers.map(([n]) => n).join(',')}: `);
    }
  });

  it('trailer names on the wire are case-insensitive and values may carry spaces; the signature covers the canonical form', async () => {
    const c = await signedTrailer();
    const [[name, value]] = defaultTrailers('x-amz-checksum-crc32c', CHUNKS) as [[string, string]];
    const enc = c.encode();
    const fin = segOf(enc, 'final', 3);
    // Signed over `x-amz-checksum-crc32c:<value>\n`, sent as `X-Amz-Checksum-CRC32C: <value> `.
    const sig = refTrailerSig(c.ref!, enc.chunkSigs.at(-1)!, [[name, value]]);
    const body = Buffer.concat([
      enc.body.subarray(0, fin.start + fin.bytes.length),
      Buffer.from(`X-Amz-Checksum-CRC32C: ${value} \r\nX-Amz-Trailer-Signature:${sig}\r\n\r\n`, 'latin1'),
    ]);
    assert.equal(decodeOk(c.decoder(), bytewise(body)).out.equals(c.data), true);
  });

  it('a trailer line without a colon: MalformedTrailer', async () => {
    const c = await signedTrailer();
    const enc = c.encode();
    const fin = segOf(enc, 'final', 3);
    const body = Buffer.concat([enc.body.subarray(0, fin.start + fin.bytes.length), Buffer.from('no colon here\r\n'), enc.body.subarray(fin.start + fin.bytes.length)]);
    expectFail(c.decoder(), [body], 'MalformedTrailer');
  });
});

// ---------------------------------------------------------------------------------------------
// 5. STREAMING-UNSIGNED-PAYLOAD-TRAILER
// ---------------------------------------------------------------------------------------------

describe('STREAMING-UNSIGNED-PAYLOAD-TRAILER with each checksum', () => {
  const CHUNKS = trickyChunks(500, [4096, 1000, 1]);
  const unsigned = (trailer: string, chunks: readonly Uint8Array[] = CHUNKS) => client({ payloadHash: STREAMING_UNSIGNED_TRAILER, chunks, trailer });

  for (const name of CHECKSUM_NAMES) {
    describe(name, () => {
      it('a good body decodes; encodeChunkedBody writes the reference bytes', async () => {
        const c = await unsigned(name);
        assert.deepEqual(c.verified.payload, { kind: 'chunked', signed: false, trailer: true, decodedLength: 5097 });
        const enc = c.encode();
        assert.equal(encodeChunkedBody(CHUNKS, { trailer: name }).toString('latin1'), enc.body.toString('latin1'));
        assert.ok(enc.body.toString('latin1').includes(`\r\n${name}:${REF_CHECKSUM[name]!(c.data)}\r\n\r\n`));
        for (const seed of [1, 2, 3]) {
          assert.equal(decodeOk(c.decoder(), framingBytewise(enc, prng(seed), 300)).out.equals(c.data), true);
          assert.equal(decodeOk(c.decoder(), randomPieces(enc.body, prng(seed), 100)).out.equals(c.data), true);
        }
        assert.equal(decodeOk(c.decoder(), [enc.body]).out.equals(c.data), true);
        // Empty data: just the final chunk and the trailer.
        const empty = await unsigned(name, []);
        assert.equal(decodeOk(empty.decoder(), bytewise(empty.encode().body)).out.length, 0);
      });

      it('tampered data: BadDigest', async () => {
        const c = await unsigned(name);
        const enc = c.encode();
        for (const [chunk, at] of [[0, 0], [0, 4095], [1, 500], [2, 0]] as const) {
          const bad = flip(enc.body, segOf(enc, 'data', chunk).start + at);
          expectFail(c.decoder(), randomPieces(bad, prng(at), 700), 'BadDigest', `chunk ${chunk} byte ${at}: `);
        }
        // The right checksum of other data, and a checksum in the wrong encoding.
        expectFail(c.decoder(), [c.encode(CHUNKS, { trailers: [[name, REF_CHECKSUM[name]!(Buffer.from('other'))]] }).body], 'BadDigest', 'other data: ');
        const hex = Buffer.from(REF_CHECKSUM[name]!(c.data), 'base64').toString('hex');
        expectFail(c.decoder(), [c.encode(CHUNKS, { trailers: [[name, hex]] }).body], 'BadDigest', 'hex instead of base64: ');
      });

      it('a missing, repeated or extra trailer: MalformedTrailer', async () => {
        const c = await unsigned(name);
        const right = defaultTrailers(name, CHUNKS);
        expectFail(c.decoder(), [c.encode(CHUNKS, { trailers: [] }).body], 'MalformedTrailer', 'missing: ');
        expectFail(c.decoder(), [c.encode(CHUNKS, { trailers: [...right, ...right] }).body], 'MalformedTrailer', 'twice: ');
        expectFail(c.decoder(), [c.encode(CHUNKS, { trailers: [...right, ['x-amz-meta-a', 'b']] }).body], 'MalformedTrailer', 'extra: ');
      });
    });
  }

  it('the x-amz-trailer name is case-insensitive, in the header and on the wire', async () => {
    const c = await unsigned('X-Amz-Checksum-CRC32C');
    assert.equal(decodeOk(c.decoder(), [c.encode().body]).out.equals(c.data), true);
    const value = REF_CHECKSUM['x-amz-checksum-crc32c']!(c.data);
    const wire = c.encode(CHUNKS, { trailers: [['X-AMZ-CHECKSUM-CRC32C', ` ${value}`]] }).body;
    assert.equal(decodeOk(c.decoder(), bytewise(wire)).out.equals(c.data), true);
  });

  it('an unsupported trailer name: InvalidParameterValue when the decoder is made', async () => {
    for (const name of ['x-amz-checksum-md5', 'x-amz-checksum-crc64nvme', 'content-md5', 'x-amz-meta-checksum', 'x-amz-checksum-crc32,x-amz-checksum-sha1']) {
      const c = await unsigned(name);
      assert.equal(c.verified.payload.kind, 'chunked');
      assert.throws(() => c.decoder(), isCode('InvalidParameterValue'), name);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 6. Checksums against independent references
// ---------------------------------------------------------------------------------------------

describe('checksums', () => {
  const CHECK = Buffer.from('123456789', 'latin1');
  const decodeBe32 = (b64: string) => {
    const b = Buffer.from(b64, 'base64');
    assert.equal(b.length, 4);
    return b.readUInt32BE(0);
  };

  it('the bit-by-bit references give the published check values', () => {
    assert.equal(refCrc(CRC32C_POLY, CHECK), 0xe3069283);
    assert.equal(refCrc(CRC32_POLY, CHECK), 0xcbf43926);
  });

  it('CRC32C of "123456789" is 0xE3069283 (the standard check value)', () => {
    assert.equal(crc32c(CHECK), 0xe3069283);
  });

  it('CRC32C matches the RFC 3720 (iSCSI) test vectors', () => {
    assert.equal(crc32c(Buffer.alloc(32, 0x00)), 0x8a9136aa);
    assert.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43);
    assert.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i))), 0x46dd794e);
    assert.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i))), 0x113fdb5c);
  });

  it('CRC32 of "123456789" is 0xCBF43926', () => {
    assert.equal(decodeBe32(checksumOf('x-amz-checksum-crc32', CHECK)), 0xcbf43926);
  });

  it('crc32c equals the bit-by-bit reference on random data of every length 0..100 and some longer ones', () => {
    const rng = prng(3720);
    for (const n of [...Array.from({ length: 101 }, (_, i) => i), 255, 256, 1000, 4099, 65536 + 7]) {
      const data = randomBytes(rng, n);
      assert.equal(crc32c(data), refCrc(CRC32C_POLY, data), `length ${n}`);
      // Unaligned views into a larger buffer.
      const big = Buffer.concat([randomBytes(rng, 3), data, randomBytes(rng, 5)]);
      assert.equal(crc32c(big.subarray(3, 3 + n)), refCrc(CRC32C_POLY, data), `length ${n}, offset 3`);
    }
  });

  it('crc32c continues across splits: crc32c(b, crc32c(a)) == crc32c(a + b)', () => {
    const rng = prng(8);
    for (let n = 0; n <= 100; n++) {
      const data = randomBytes(rng, n);
      const whole = refCrc(CRC32C_POLY, data);
      for (let k = 0; k < 5; k++) {
        const cut = Math.floor(rng() * (n + 1));
        assert.equal(crc32c(data.subarray(cut), crc32c(data.subarray(0, cut))), whole, `length ${n}, cut ${cut}`);
      }
      // Many pieces.
      let c = 0;
      for (const piece of randomPieces(data, rng, 9)) c = crc32c(piece, c);
      assert.equal(c, whole, `length ${n}, pieces`);
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 200 }), (a, b) => {
        const ab = Buffer.concat([a, b]);
        assert.equal(crc32c(b, crc32c(a)), crc32c(ab));
        assert.equal(crc32c(ab), refCrc(CRC32C_POLY, ab));
      }),
      { seed: 3720, numRuns: 300 },
    );
  });

  it('values travel as base64 of the big-endian digest', () => {
    assert.equal(checksumOf('x-amz-checksum-crc32c', CHECK), Buffer.from([0xe3, 0x06, 0x92, 0x83]).toString('base64'));
    assert.equal(checksumOf('x-amz-checksum-crc32', CHECK), Buffer.from([0xcb, 0xf4, 0x39, 0x26]).toString('base64'));
    assert.equal(checksumOf('x-amz-checksum-crc32c', Buffer.alloc(0)), 'AAAAAA==');
    assert.equal(checksumOf('x-amz-checksum-sha1', CHECK), createHash('sha1').update(CHECK).digest('base64'));
    assert.equal(checksumOf('x-amz-checksum-sha256', CHECK), createHash('sha256').update(CHECK).digest('base64'));
    // CRC values with a high bit set and with leading zero bytes keep all four bytes.
    const rng = prng(99);
    for (let i = 0; i < 200; i++) {
      const data = randomBytes(rng, Math.floor(rng() * 50));
      for (const name of CHECKSUM_NAMES) assert.equal(checksumOf(name, data), REF_CHECKSUM[name]!(data), name);
    }
  });

  it('each CHECKSUMS entry fed in pieces equals the one-shot value', () => {
    assert.deepEqual(Object.keys(CHECKSUMS).sort(), [...CHECKSUM_NAMES].sort());
    const rng = prng(42);
    const data = randomBytes(rng, 5000);
    for (const name of CHECKSUM_NAMES) {
      const sum = CHECKSUMS[name]!();
      for (const piece of randomPieces(data, rng, 300)) sum.update(piece);
      assert.equal(sum.digest(), REF_CHECKSUM[name]!(data), name);
    }
    assert.throws(() => checksumOf('x-amz-checksum-md5', data), RangeError);
  });
});

// ---------------------------------------------------------------------------------------------
// 7. Sha256Check
// ---------------------------------------------------------------------------------------------

describe('Sha256Check (plain bodies)', () => {
  const BODY = trickyChunks(700, [3333])[0]!;

  const plainClient = async () => {
    const path = '/portcullis-bucket/plain.bin';
    const signed = new Signer({ clock: () => NOW }).sign(
      { method: 'PUT', path, headers: { host: 'portcullis-bucket.s3.us-east-1.amazonaws.com', 'content-length': String(BODY.length) }, body: BODY },
      { credentials: CREDS, region: REGION, service: 's3', contentSha256Header: true },
    );
    const req: HttpRequest = { method: 'PUT', path, query: '', headers: HeaderMap.fromRecord(signed.headers) };
    const verifier = makeVerifier();
    const verified = await verifier.verify(req);
    return { signed, req, verifier, verified };
  };

  it('the good body passes, every byte returned as pushed', async () => {
    const c = await plainClient();
    assert.deepEqual(c.verified.payload, { kind: 'sha256', hash: sha256Hex(BODY) });
    for (const seed of [1, 2]) {
      const d = decodeOk(c.verifier.bodyDecoder(c.verified, c.req), randomPieces(BODY, prng(seed), 500));
      assert.equal(d.out.equals(BODY), true);
    }
    assert.equal(decodeOk(new Sha256Check(sha256Hex('')), []).out.length, 0);
  });

  it('a changed, shorter or longer body: XAmzContentSHA256Mismatch at end()', async () => {
    const c = await plainClient();
    for (const [name, body] of [['changed', flip(BODY, 1234)], ['shorter', BODY.subarray(0, -1)], ['longer', Buffer.concat([BODY, Buffer.from('x')])], ['empty', Buffer.alloc(0)]] as const) {
      const decoder = c.verifier.bodyDecoder(c.verified, c.req);
      const pieces = randomPieces(body, prng(5), 500);
      assert.doesNotThrow(() => { for (const p of pieces) decoder.push(p); }, name);
      assert.throws(() => decoder.end(), isCode('XAmzContentSHA256Mismatch'), name);
    }
    // Upper-case hex is not the hex SHA-256 the header carries.
    const upper = new Sha256Check(sha256Hex(BODY).toUpperCase());
    upper.push(BODY);
    assert.throws(() => upper.end(), isCode('XAmzContentSHA256Mismatch'));
  });
});

// ---------------------------------------------------------------------------------------------
// 8. decoderStream
// ---------------------------------------------------------------------------------------------

describe('decoderStream', () => {
  const CHUNKS = trickyChunks(800, [5000, 3000, 100]);

  const collect = (sink: Buffer[]) =>
    new Writable({
      write(chunk: Buffer, _enc, done) {
        sink.push(Buffer.from(chunk));
        done();
      },
    });

  it('a chunked body piped through the Transform yields the data', async () => {
    for (const [payloadHash, trailer] of [[STREAMING_SIGNED, undefined], [STREAMING_SIGNED_TRAILER, 'x-amz-checksum-sha1'], [STREAMING_UNSIGNED_TRAILER, 'x-amz-checksum-crc32c']] as const) {
      const c = await client({ payloadHash, chunks: CHUNKS, ...(trailer !== undefined ? { trailer } : {}) });
      const got: Buffer[] = [];
      await pipeline(Readable.from(randomPieces(c.encode().body, prng(1), 1500)), decoderStream(c.decoder()), collect(got));
      assert.equal(Buffer.concat(got).equals(c.data), true, payloadHash);
    }
  });

  it('a bad chunk errors the pipeline with the PortcullisError, and nothing of that chunk comes out', async () => {
    const c = await client({ payloadHash: STREAMING_SIGNED, chunks: CHUNKS });
    const enc = c.encode();
    const bad = flip(enc.body, segOf(enc, 'data', 1).start + 77);
    const got: Buffer[] = [];
    await assert.rejects(pipeline(Readable.from(randomPieces(bad, prng(2), 1500)), decoderStream(c.decoder()), collect(got)), isCode('SignatureDoesNotMatch'));
    assert.equal(Buffer.concat(got).equals(CHUNKS[0]!), true);
  });

  it('a truncated body errors the pipeline at the end with IncompleteBody', async () => {
    const c = await client({ payloadHash: STREAMING_SIGNED, chunks: CHUNKS });
    const body = c.encode().body;
    await assert.rejects(pipeline(Readable.from([body.subarray(0, body.length - 1)]), decoderStream(c.decoder()), collect([])), isCode('IncompleteBody'));
  });

  it('a plain body with the wrong hash errors the pipeline with XAmzContentSHA256Mismatch', async () => {
    const body = Buffer.from('hello, portcullis');
    await assert.rejects(pipeline(Readable.from([body]), decoderStream(new Sha256Check(sha256Hex('hello, world'))), collect([])), isCode('XAmzContentSHA256Mismatch'));
    const got: Buffer[] = [];
    await pipeline(Readable.from([body]), decoderStream(new Sha256Check(sha256Hex(body))), collect(got));
    assert.equal(Buffer.concat(got).equals(body), true);
  });
});
