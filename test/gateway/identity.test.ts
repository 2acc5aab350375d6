/**
 * The identity headers for upstreams (src/gateway/identity.ts): one Ed25519 signature over the
 * Merkle root of the requests signed in the same turn, and each request's path to that root.
 * Every request of a batch verifies on its own; nothing of one request, and no part of its
 * path or signature, can be changed or swapped with another's.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { IDENTITY_PROOF, IDENTITY_SIGNATURE, IdentitySigner, merkleProofs, verifyIdentity, type Identity } from '../../src/gateway/identity.js';

const { privateKey } = generateKeyPairSync('ed25519');
const signer = new IdentitySigner(privateKey);
const otherSigner = new IdentitySigner(generateKeyPairSync('ed25519').privateKey);

function identity(i: number): Identity {
  return {
    'x-portcullis-principal': `arn:aws:iam::123456789012:user/u${i}`,
    'x-portcullis-account': '123456789012',
    'x-portcullis-user-id': `AIDA${String(i).padStart(17, '0')}`,
    'x-portcullis-action': i % 2 === 0 ? 'datapipeline:ListPipelines' : 'datapipeline:CreatePipeline',
    'x-portcullis-request-id': `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    'x-portcullis-date': '2026-12-07T16:00:00.000Z',
  };
}

/** The fields as an upstream reads them (each name once). */
function asRecord(fields: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < fields.length; i += 2) {
    assert.equal(out[fields[i]!], undefined, `${fields[i]} once`);
    out[fields[i]!] = fields[i + 1]!;
  }
  return out;
}

interface Signed {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
}

/** `n` requests (numbered from `first`) signed in one turn of the event loop. */
async function batch(n: number, first = 0): Promise<Signed[]> {
  return Promise.all(Array.from({ length: n }, async (_, k) => {
    const i = first + k;
    const method = i % 3 === 0 ? 'GET' : 'POST';
    const path = `/pipelines/p${i}?x=${i}`;
    return { method, path, headers: asRecord(await signer.headers(method, path, identity(i))) };
  }));
}

const ok = (r: Signed, headers = r.headers, pem = signer.publicKeyPem) => verifyIdentity(pem, r.method, r.path, headers);

describe('identity signatures', () => {
  it('a request alone: its leaf is the root, the path is empty, and it verifies', async () => {
    const [r] = await batch(1);
    assert.equal(r!.headers[IDENTITY_PROOF], '');
    assert.ok(ok(r!));
    assert.ok(!ok(r!, r!.headers, otherSigner.publicKeyPem), 'not with another key');
  });

  it('requests of one turn share one signature; each verifies with its own path, of at most ceil(log2 n) steps', async () => {
    for (const n of [2, 3, 5, 8, 13, 64, 100]) {
      const rs = await batch(n);
      assert.equal(new Set(rs.map((r) => r.headers[IDENTITY_SIGNATURE])).size, 1, `${n}: one signature`);
      for (const r of rs) {
        assert.ok(ok(r), `${n}: ${r.path} verifies`);
        const steps = r.headers[IDENTITY_PROOF]!.split('.').length;
        assert.ok(steps >= 1 && steps <= Math.ceil(Math.log2(n)), `${n}: ${steps} steps`);
      }
    }
  });

  it('turns are signed apart, and a batch is cut at 256 requests', async () => {
    const [a] = await batch(1, 1);
    const [b] = await batch(1, 2);
    assert.notEqual(a!.headers[IDENTITY_SIGNATURE], b!.headers[IDENTITY_SIGNATURE]);
    const rs = await batch(300);
    const sigs = rs.map((r) => r.headers[IDENTITY_SIGNATURE]);
    assert.equal(new Set(sigs).size, 2);
    assert.equal(sigs.filter((s) => s === sigs[0]).length, 256);
    assert.ok(rs.every((r) => ok(r)));
  });

  it('a changed method, path, identity value, signature or path step, or a path or signature taken from another request, fails', async () => {
    const rs = await batch(7);
    const [r, other] = [rs[2]!, rs[5]!];
    assert.ok(ok(r));
    assert.ok(!verifyIdentity(signer.publicKeyPem, 'DELETE', r.path, r.headers), 'method');
    assert.ok(!verifyIdentity(signer.publicKeyPem, r.method, `${r.path}&y=1`, r.headers), 'path');
    for (const h of Object.keys(identity(0))) assert.ok(!ok(r, { ...r.headers, [h]: `${r.headers[h]}x` }), h);
    assert.ok(!ok(r, { ...r.headers, [IDENTITY_PROOF]: other.headers[IDENTITY_PROOF]! }), "another request's path");
    assert.ok(!ok(r, { ...r.headers, 'x-portcullis-request-id': other.headers['x-portcullis-request-id']! }), "another request's id");
    const steps = r.headers[IDENTITY_PROOF]!.split('.');
    const flip = (s: string) => (s[0] === 'l' ? 'r' : 'l') + s.slice(1);
    assert.ok(!ok(r, { ...r.headers, [IDENTITY_PROOF]: [flip(steps[0]!), ...steps.slice(1)].join('.') }), 'a step on the wrong side');
    assert.ok(!ok(r, { ...r.headers, [IDENTITY_PROOF]: steps.slice(1).join('.') }), 'a step left out');
    assert.ok(!ok(r, { ...r.headers, [IDENTITY_PROOF]: [...steps, steps[0]!].join('.') }), 'a step added');
    assert.ok(!ok(r, { ...r.headers, [IDENTITY_PROOF]: '' }), 'no path');
    const { [IDENTITY_PROOF]: _, ...withoutProof } = r.headers;
    assert.ok(!ok(r, withoutProof), 'the proof header missing');
    const [alone] = await batch(1, 50);
    assert.ok(!ok(r, { ...r.headers, [IDENTITY_SIGNATURE]: alone!.headers[IDENTITY_SIGNATURE]! }), "another turn's signature");
    for (const bad of ['x', 'l' + 'A'.repeat(42), 'q' + 'A'.repeat(43), `${steps[0]}.`, Array(17).fill(steps[0]).join('.')]) {
      assert.ok(!ok(r, { ...r.headers, [IDENTITY_PROOF]: bad }), `malformed path ${bad.slice(0, 20)}`);
    }
  });

  it('property: any single-byte change of any part of any request of a batch fails', async () => {
    const rs = await batch(9);
    await fc.assert(fc.asyncProperty(fc.nat(8), fc.constantFrom(...Object.keys(rs[0]!.headers)), fc.nat(), fc.integer({ min: 1, max: 255 }), async (i, name, at, delta) => {
      const r = rs[i]!;
      const value = Buffer.from(r.headers[name]!, 'latin1');
      if (value.length === 0) return;
      value[at % value.length] = (value[at % value.length]! + delta) % 256;
      const changed = value.toString('latin1');
      // The last base64url character of a hash or signature carries bits the decoder drops: a change
      // there that decodes to the same bytes is no change.
      const decoded = (v: string) => name === IDENTITY_SIGNATURE ? Buffer.from(v, 'base64url').toString('hex')
        : name === IDENTITY_PROOF ? v.split('.').map((step) => step[0] + Buffer.from(step.slice(1), 'base64url').toString('hex')).join('.')
          : v;
      if (/^[A-Za-z0-9_.-]*$/.test(changed) && decoded(changed) === decoded(r.headers[name]!)) return;
      assert.ok(!ok(r, { ...r.headers, [name]: changed }), `${name} changed at ${at % value.length}`);
    }), { numRuns: 300 });
  });

  it("upstreams written in Node import the verifier as the package's `portcullis/identity`", async () => {
    const name = 'portcullis/identity'; // through package.json "exports", as an upstream would
    const pkg = (await import(name)) as { verifyIdentity: typeof verifyIdentity };
    const [r] = await batch(1, 60);
    assert.ok(pkg.verifyIdentity(signer.publicKeyPem, r!.method, r!.path, r!.headers));
    assert.ok(!pkg.verifyIdentity(signer.publicKeyPem, r!.method, `${r!.path}x`, r!.headers));
  });

  it('merkleProofs: the root of one leaf is the leaf; of several, each path leads to the same root', () => {
    const leaf = '\x07'.repeat(32);
    assert.deepEqual(merkleProofs([leaf]), { root: leaf, proofs: [''] });
    const leaves = Array.from({ length: 6 }, (_, i) => String.fromCharCode(i).repeat(32));
    const { proofs } = merkleProofs(leaves);
    assert.deepEqual(proofs.map((p) => p.split('.').map((s) => s[0]).join('')), ['rrr', 'lrr', 'rlr', 'llr', 'rl', 'll']);
  });
});
