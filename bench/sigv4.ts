/**
 * Verifications per second of a typical signed POST (8 signed headers, 200-byte body):
 * - portcullis: our Verifier, from Node-style raw headers to a verified request, through the
 *   calls the gateway makes per request (parse, time and scope, lookup, signature; `verify()`
 *   is the same sequence behind a promise);
 * - smithy: re-signing the same request with @smithy/signature-v4 (with Node's native SHA-256,
 *   @smithy/hash-node, as the AWS SDK uses on Node) and comparing signatures, which is what a
 *   gateway built on the SDK's signer would do;
 * - crypto bound: only the SHA-256 and HMAC calls one verification needs (body hash, hash of
 *   the canonical request, HMAC of the string to sign), back to back, with the same primitives
 *   the verifier uses (one-shot crypto.hash, and HMAC from a SigningKey's precomputed pads).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { Hash } from '@smithy/hash-node';
import { HttpRequest as SmithyRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import {
  ALGORITHM_V4, canonicalRequestOf, deriveSigningKey, NORMALIZING_RULES, parseAuth, requestFromWire, sha256Hex, Signer, stringToSign, Verifier,
} from '../src/sigv4/index.js';
import { compare, fmt, pairedRatio } from './measure.js';

export async function benchSigv4(): Promise<{ vsSmithy: number; vsBound: number }> {
  const now = Date.UTC(2026, 10, 23, 12, 0, 0);
  const credentials = { accessKeyId: 'AKIAPORTCULLISBENCH1', secretAccessKey: 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA' };
  const body = 'Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fbench-role&RoleSessionName=bench-session&DurationSeconds=3600&Tags.member.1.Key=team&Tags.member.1.Value=x'.padEnd(200, 'x');
  const headers = {
    host: 'portcullis.example.com:8443',
    'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
    'content-length': String(body.length),
    'x-amz-user-agent': 'aws-sdk-js/3.700.0',
    'amz-sdk-invocation-id': '6a8b2d4e-1f3c-4b5a-9d7e-0c1b2a3f4e5d',
    'amz-sdk-request': 'attempt=1; max=3',
    'x-amz-target': 'Portcullis.Bench',
  };
  const signed = new Signer({ clock: () => now }).sign(
    { method: 'POST', path: '/', headers, body },
    { credentials, region: 'us-east-1', service: 'sts' },
  );
  const rawHeaders: string[] = [];
  for (const [k, v] of Object.entries(signed.headers)) rawHeaders.push(k, v as string);
  rawHeaders.push('user-agent', 'aws-cli/2.0 bench', 'accept-encoding', 'identity');
  const signedCount = (signed.headers['authorization'] as string).split('SignedHeaders=')[1]!.split(',')[0]!.split(';').length;
  if (signedCount !== 8) throw new Error(`bench request should sign 8 headers, signs ${signedCount}`);

  const found = { status: 'found' as const, secretAccessKey: credentials.secretAccessKey, principal: 'arn:aws:iam::123456789012:user/bench' };
  const verifier = new Verifier({ region: 'us-east-1', clock: () => now, lookup: () => found });
  const lookup = () => found;
  const ours = () => {
    const req = requestFromWire('POST', '/', rawHeaders);
    const auth = verifier.parse(req);
    verifier.checkTimeAndScope(auth);
    return verifier.checkSignature(req, auth, lookup(), { bodySha256: sha256Hex(body) });
  };
  // Proves the request verifies, both ways, before we time it.
  if (ours().principal !== found.principal) throw new Error('the bench request does not verify');
  await verifier.verify(requestFromWire('POST', '/', rawHeaders), { bodySha256: sha256Hex(body) });

  const smithy = new SignatureV4({ credentials, region: 'us-east-1', service: 'sts', sha256: Hash.bind(null, 'sha256'), applyChecksum: false });
  const smithyHeaders: Record<string, string> = {};
  for (const [k, v] of Object.entries(signed.headers)) if (k !== 'authorization') smithyHeaders[k] = v as string;
  const expected = Buffer.from(signed.signature, 'hex');
  const signingDate = new Date(now);
  const resign = async () => {
    const out = await smithy.sign(new SmithyRequest({ method: 'POST', protocol: 'https:', hostname: 'portcullis.example.com', port: 8443, path: '/', headers: { ...smithyHeaders }, body }), { signingDate });
    const got = String(out.headers['authorization']).split('Signature=')[1]!;
    if (!timingSafeEqual(Buffer.from(got, 'hex'), expected)) throw new Error('smithy re-sign disagrees');
  };
  await resign();

  const key = deriveSigningKey(credentials.secretAccessKey, '20261123', 'us-east-1', 'sts');
  // The bound hashes exactly what a verification of this request hashes: its own canonical request
  // (built once, here, outside the timed calls).
  const benchRequest = requestFromWire('POST', '/', rawHeaders);
  const canonicalSample = canonicalRequestOf(benchRequest, NORMALIZING_RULES, parseAuth(benchRequest), sha256Hex(body))!;
  const bound = () => {
    sha256Hex(body);
    const sts = stringToSign(ALGORITHM_V4, signed.amzDate, signed.scope, canonicalSample); // SHA-256 of the canonical request
    key.sign(sts);
  };

  // The same three calls through Node's usual API (createHash, createHmac), for reference.
  const rawKey = key.bytes;
  const plainBound = () => {
    createHash('sha256').update(body).digest('hex');
    const sts = `${ALGORITHM_V4}\n${signed.amzDate}\n${signed.scope}\n${createHash('sha256').update(canonicalSample).digest('hex')}`;
    createHmac('sha256', rawKey).update(sts).digest('hex');
  };

  const [b, p, o, s] = await compare([
    { name: 'crypto bound', op: bound },
    { name: 'crypto bound, usual API', op: plainBound },
    { name: 'portcullis verify', op: ours },
    { name: 'smithy re-sign', op: resign },
  ], { rounds: 15, roundMs: 150 });
  const vsSmithy = pairedRatio(o!, s!);
  const vsBound = pairedRatio(o!, b!);
  console.log('sigv4: verifications/s of a signed POST (8 signed headers, 200-byte body)');
  console.log(`  crypto bound       ${fmt(b!.opsPerSec)} /s   1.00 (baseline: the verifier's own primitives)`);
  console.log(`  crypto bound (API) ${fmt(p!.opsPerSec)} /s   ${pairedRatio(p!, b!).toFixed(2)} (createHash + createHmac, for reference)`);
  console.log(`  portcullis verify  ${fmt(o!.opsPerSec)} /s   ${vsBound.toFixed(2)} of the crypto bound (target >= 0.50); ${pairedRatio(o!, p!).toFixed(2)} of the usual-API bound`);
  console.log(`  smithy re-sign     ${fmt(s!.opsPerSec)} /s   portcullis is ${vsSmithy.toFixed(2)}x smithy (target >= 4)`);
  return { vsSmithy, vsBound };
}
