/**
 * Self-signed X.509 v3 certificates for first start, with no dependency: a minimal DER
 * encoder for the fields a TLS server certificate needs (RFC 5280), signed with node:crypto.
 * Used only for the bootstrap certificate; operators bring their own for production.
 */
import { createPrivateKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';

// --- DER ---
function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
}
const seq = (...c: Buffer[]) => tlv(0x30, ...c);
const set = (...c: Buffer[]) => tlv(0x31, ...c);
const explicit = (n: number, ...c: Buffer[]) => tlv(0xa0 + n, ...c);
/** A non-negative DER INTEGER in its minimal form: no redundant leading zero bytes (X.690 8.3.2). */
function int(b: Buffer): Buffer {
  let v = b;
  while (v.length > 1 && v[0] === 0 && v[1]! < 0x80) v = v.subarray(1);
  if (v[0]! & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
  return tlv(0x02, v);
}
function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number) as [number, number, ...number[]];
  const out = [40 * a + b];
  for (const n of rest) {
    const group: number[] = [];
    let v = n;
    do {
      group.unshift((v & 0x7f) | (group.length ? 0x80 : 0));
      v = Math.floor(v / 128);
    } while (v > 0);
    out.push(...group);
  }
  return tlv(0x06, Buffer.from(out));
}
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));
const octets = (b: Buffer) => tlv(0x04, b);
const bits = (b: Buffer) => tlv(0x03, Buffer.from([0]), b);
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0]));
function time(d: Date): Buffer {
  // UTCTime through 2049, GeneralizedTime after (RFC 5280 4.1.2.5).
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2))) : tlv(0x18, Buffer.from(iso));
}

const OID = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  subjectAltName: '2.5.29.17',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  basicConstraints: '2.5.29.19',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  sha256WithRsa: '1.2.840.113549.1.1.11',
};

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  // IPv6: expand `::` then write eight 16-bit groups.
  const [head, tail = ''] = ip.split('::') as [string, string?];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

export interface SelfSignedOptions {
  readonly keyType: 'ec' | 'rsa';
  readonly commonName: string;
  /** DNS names and IP addresses for subjectAltName. */
  readonly names: readonly string[];
  readonly days: number;
  readonly now?: Date;
}

export interface KeyAndCert {
  readonly keyPem: string;
  readonly certPem: string;
}

function pem(label: string, der: Buffer): string {
  return `-----BEGIN ${label}-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n?$/, '\n')}-----END ${label}-----\n`;
}

export function selfSignedCertificate(opts: SelfSignedOptions): KeyAndCert {
  const { privateKey, publicKey } =
    opts.keyType === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const certDer = buildCertificate(privateKey, publicKey, opts);
  return { keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, certPem: pem('CERTIFICATE', certDer) };
}

function buildCertificate(privateKey: KeyObject, publicKey: KeyObject, opts: SelfSignedOptions): Buffer {
  const ec = opts.keyType === 'ec';
  const sigAlg = ec ? seq(oid(OID.ecdsaWithSha256)) : seq(oid(OID.sha256WithRsa), tlv(0x05));
  const now = opts.now ?? new Date();
  const notBefore = new Date(now.getTime() - 5 * 60_000); // tolerate small clock differences
  const notAfter = new Date(now.getTime() + opts.days * 86_400_000);
  const name = seq(
    set(seq(oid(OID.organization), utf8('Portcullis'))),
    set(seq(oid(OID.commonName), utf8(opts.commonName))),
  );
  const altNames = opts.names.map((n) => (isIP(n) ? tlv(0x87, ipBytes(n)) : tlv(0x82, Buffer.from(n, 'ascii'))));
  const serial = randomBytes(16);
  serial[0]! &= 0x7f;
  const keyUsage = ec ? Buffer.from([0x80]) : Buffer.from([0xa0]); // digitalSignature (+ keyEncipherment for RSA)
  const extensions = seq(
    seq(oid(OID.basicConstraints), bool(true), octets(seq())),
    seq(oid(OID.keyUsage), bool(true), octets(tlv(0x03, Buffer.from([ec ? 7 : 5]), keyUsage))),
    seq(oid(OID.extKeyUsage), octets(seq(oid(OID.serverAuth)))),
    seq(oid(OID.subjectAltName), octets(seq(...altNames))),
  );
  const tbs = seq(
    explicit(0, int(Buffer.from([2]))),
    int(serial),
    sigAlg,
    name,
    seq(time(notBefore), time(notAfter)),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, extensions),
  );
  const signature = sign('sha256', tbs, ec ? { key: privateKey, dsaEncoding: 'der' } : privateKey);
  return seq(tbs, sigAlg, bits(signature));
}

/** Reads a PEM private key, to check it loads. */
export function loadPrivateKey(pemText: string): KeyObject {
  return createPrivateKey(pemText);
}
