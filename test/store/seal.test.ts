/**
 * Secrets at rest: AES-256-GCM sealing bound to the row (context), with the master key's id in
 * the sealed value so that keys can rotate.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { masterKeyId, Sealer } from '../../src/store/seal.js';

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

/** Replaces the character at `i` with a different one from the base64url alphabet. */
function flipChar(s: string, i: number): string {
  const c = s[i]!;
  return s.slice(0, i) + (c === 'A' ? 'B' : 'A') + s.slice(i + 1);
}

function parts(sealed: string): [string, string, string, string] {
  const p = sealed.split('.');
  assert.equal(p.length, 4, `sealed value has four parts: ${sealed}`);
  return p as [string, string, string, string];
}

describe('Sealer', () => {
  it('round-trips a secret under its context, and the sealed form hides it', () => {
    const sealer = new Sealer([randomBytes(32)]);
    for (const plain of [SECRET, '', 'ünïcødé ✓ секрет', 'x'.repeat(10_000)]) {
      const sealed = sealer.seal(plain, 'AKIAROWCONTEXT000001');
      assert.equal(sealer.open(sealed, 'AKIAROWCONTEXT000001'), plain);
      if (plain.length > 0) assert.ok(!sealed.includes(plain), 'the sealed value does not contain the plaintext');
    }
    const [prefix, keyId] = parts(sealer.seal(SECRET, 'ctx'));
    assert.equal(prefix, 'pcs1');
    assert.equal(keyId, sealer.currentKeyId);
  });

  it('uses a fresh IV each time: the same secret seals differently', () => {
    const sealer = new Sealer([randomBytes(32)]);
    const a = sealer.seal(SECRET, 'row');
    const b = sealer.seal(SECRET, 'row');
    assert.notEqual(a, b);
    assert.notEqual(parts(a)[2], parts(b)[2], 'IVs differ');
    assert.equal(sealer.open(a, 'row'), SECRET);
    assert.equal(sealer.open(b, 'row'), SECRET);
  });

  it('refuses to open a value under another context (row id)', () => {
    const sealer = new Sealer([randomBytes(32)]);
    const sealed = sealer.seal(SECRET, 'AKIAAAAAAAAAAAAAAAAA');
    assert.throws(() => sealer.open(sealed, 'AKIABBBBBBBBBBBBBBBB'));
    assert.throws(() => sealer.open(sealed, 'AKIAAAAAAAAAAAAAAAAAA'), 'a context one character longer');
    assert.throws(() => sealer.open(sealed, ''));
    // and still opens under the right one
    assert.equal(sealer.open(sealed, 'AKIAAAAAAAAAAAAAAAAA'), SECRET);
  });

  it('refuses tampered values: ciphertext, tag, IV, truncation, format', () => {
    const sealer = new Sealer([randomBytes(32)]);
    const sealed = sealer.seal(SECRET, 'row');
    const [prefix, keyId, iv, data] = parts(sealed);
    const join = (...p: string[]) => p.join('.');

    // every position of the ciphertext+tag, one at a time
    for (let i = 0; i < data.length; i++) {
      const tampered = join(prefix, keyId, iv, flipChar(data, i));
      if (Buffer.from(tampered.split('.')[3]!, 'base64url').equals(Buffer.from(data, 'base64url'))) continue; // padding bits only
      assert.throws(() => sealer.open(tampered, 'row'), `flipping data char ${i} must be detected`);
    }
    for (let i = 0; i < iv.length; i++) {
      const tampered = join(prefix, keyId, flipChar(iv, i), data);
      if (Buffer.from(tampered.split('.')[2]!, 'base64url').equals(Buffer.from(iv, 'base64url'))) continue;
      assert.throws(() => sealer.open(tampered, 'row'), `flipping IV char ${i} must be detected`);
    }
    // bytes appended or removed
    const raw = Buffer.from(data, 'base64url');
    assert.throws(() => sealer.open(join(prefix, keyId, iv, Buffer.concat([raw, Buffer.from([0])]).toString('base64url')), 'row'));
    assert.throws(() => sealer.open(join(prefix, keyId, iv, raw.subarray(0, raw.length - 1).toString('base64url')), 'row'));
    assert.throws(() => sealer.open(join(prefix, keyId, iv, raw.subarray(0, 15).toString('base64url')), 'row'), /truncated/);
    assert.throws(() => sealer.open(join(prefix, keyId, '', data), 'row'), /truncated/);
    // the ciphertext of another value, same key
    const other = parts(sealer.seal('another secret of the same length!!!!!!!', 'row'));
    assert.throws(() => sealer.open(join(prefix, keyId, iv, other[3]), 'row'));
    // format
    assert.throws(() => sealer.open(join('pcs2', keyId, iv, data), 'row'), /unknown format/);
    assert.throws(() => sealer.open(`${sealed}.extra`, 'row'), /unknown format/);
    assert.throws(() => sealer.open(SECRET, 'row'), /unknown format/);
    assert.throws(() => sealer.open('', 'row'), /unknown format/);
  });

  it('refuses a value sealed under another master key', () => {
    const a = new Sealer([randomBytes(32)]);
    const b = new Sealer([randomBytes(32)]);
    assert.throws(() => b.open(a.seal(SECRET, 'row'), 'row'), /not loaded/);
  });

  it('rotates: seals with the first key and opens what the second sealed', () => {
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const before = new Sealer([oldKey]);
    const sealedBefore = before.seal(SECRET, 'row-1');

    const rotated = new Sealer([newKey, oldKey]);
    assert.equal(rotated.currentKeyId, masterKeyId(newKey));
    assert.equal(rotated.open(sealedBefore, 'row-1'), SECRET, 'an old value still opens');
    const sealedAfter = rotated.seal(SECRET, 'row-1');
    assert.equal(parts(sealedAfter)[1], masterKeyId(newKey), 'new values are sealed with the first key');
    assert.equal(rotated.open(sealedAfter, 'row-1'), SECRET);

    // the old key alone cannot open what the new one sealed; the new one alone can
    assert.throws(() => before.open(sealedAfter, 'row-1'), /not loaded/);
    assert.equal(new Sealer([newKey]).open(sealedAfter, 'row-1'), SECRET);
    // the context binding holds for old values opened through rotation too
    assert.throws(() => rotated.open(sealedBefore, 'row-2'));
  });

  it('names the missing key id in a clear error', () => {
    const key = randomBytes(32);
    const sealed = new Sealer([key]).seal(SECRET, 'row');
    const other = new Sealer([randomBytes(32)]);
    assert.throws(
      () => other.open(sealed, 'row'),
      (e: unknown) => {
        assert.ok(e instanceof Error);
        assert.ok(e.message.includes(masterKeyId(key)), `the message names the key id: ${e.message}`);
        assert.match(e.message, /master key/);
        assert.match(e.message, /not loaded/);
        assert.ok(!e.message.includes(SECRET));
        return true;
      },
    );
    // a forged key id, never loaded
    const [p, , iv, data] = parts(sealed);
    assert.throws(() => other.open([p, 'deadbeef0000', iv, data].join('.'), 'row'), /deadbeef0000.*not loaded/);
  });

  it('refuses bad master keys', () => {
    assert.throws(() => new Sealer([]), /at least one/);
    assert.throws(() => new Sealer([randomBytes(16)]), /32 bytes/);
    assert.throws(() => new Sealer([randomBytes(33)]), /32 bytes/);
    assert.throws(() => new Sealer([randomBytes(32), randomBytes(31)]), /32 bytes/);
  });
});

describe('masterKeyId', () => {
  it('is short, stable, distinct per key', () => {
    const k = randomBytes(32);
    assert.match(masterKeyId(k), /^[0-9a-f]{12}$/);
    assert.equal(masterKeyId(k), masterKeyId(Buffer.from(k)));
    assert.equal(masterKeyId(k), new Sealer([k]).currentKeyId);
    const ids = new Set(Array.from({ length: 200 }, () => masterKeyId(randomBytes(32))));
    assert.equal(ids.size, 200);
  });

  it('reveals nothing obvious of the key', () => {
    for (let n = 0; n < 200; n++) {
      const k = randomBytes(32);
      const id = masterKeyId(k).toLowerCase();
      for (const encoded of [k.toString('hex'), k.toString('base64'), k.toString('base64url'), Buffer.from(k).reverse().toString('hex')]) {
        const e = encoded.toLowerCase();
        assert.ok(!e.startsWith(id.slice(0, 8)), `id ${id} is not a prefix of the key encoding ${encoded}`);
        assert.ok(!e.includes(id), `id ${id} is not inside the key encoding ${encoded}`);
      }
    }
    // a key of zeros, or of ones, does not give an id of zeros/ones
    assert.doesNotMatch(masterKeyId(Buffer.alloc(32)), /^0+$/);
    assert.doesNotMatch(masterKeyId(Buffer.alloc(32, 0xff)), /^f+$/);
    // a one-bit change in the key changes the id entirely
    const k = randomBytes(32);
    const k2 = Buffer.from(k);
    k2[31] = k2[31]! ^ 1;
    const a = masterKeyId(k);
    const b = masterKeyId(k2);
    let same = 0;
    for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
    assert.ok(same < 8, `ids of keys one bit apart share ${same}/12 positions`);
  });
});
