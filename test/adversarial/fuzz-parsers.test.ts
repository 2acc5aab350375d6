/**
 * Property-based fuzzing (the quick part of issue 9; `npm run fuzz` is the long, coverage-guided
 * part). Every parser that sees untrusted bytes, as wrapped in fuzz/targets.ts, gets arbitrary
 * bytes, arbitrary text and structure-aware mutations of valid inputs. The only allowed outcomes
 * are a value or a PortcullisError with a code from the error table and no internal detail in
 * its message. Runs are bounded so that `npm test` stays quick.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { PortcullisError } from '../../src/core/errors.js';
import { compileArnTokens, compileTokens, tokenize } from '../../src/iam/pattern.js';
import { openMessage, openToken, sealToken } from '../../src/sts/token.js';
import { runOne, SEALED, TARGETS, verdict, type FuzzTarget } from '../../fuzz/targets.js';
import { REPO_ROOT } from '../helpers/paths.js';

const RUNS = Number(process.env['PORTCULLIS_FUZZ_RUNS'] ?? 120);

/** One mutation, as fast-check generates (and shrinks) it. */
const op = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('word' as const), at: fc.nat(), word: fc.nat() }),
  fc.record({ kind: fc.constant('dup' as const), at: fc.nat(), from: fc.nat(), n: fc.integer({ min: 1, max: 64 }) }),
);
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

function apply(input: Buffer, ops: readonly Op[], dictionary: readonly string[]): Buffer {
  let b = Buffer.from(input);
  for (const o of ops) {
    const at = b.length === 0 ? 0 : o.at % (b.length + 1);
    switch (o.kind) {
      case 'flip':
        if (b.length > 0) b[at % b.length]! ^= 1 << o.bit;
        break;
      case 'set':
        if (b.length > 0) b[at % b.length] = o.byte;
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + o.n)]);
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), Buffer.from(o.bytes), b.subarray(at)]);
        break;
      case 'word':
        b = Buffer.concat([b.subarray(0, at), Buffer.from(dictionary[o.word % dictionary.length] ?? '', 'latin1'), b.subarray(at)]);
        break;
      case 'dup': {
        if (b.length === 0) break;
        const from = o.from % b.length;
        b = Buffer.concat([b.subarray(0, at), b.subarray(from, from + o.n), b.subarray(at)]);
        break;
      }
    }
  }
  return b;
}

function check(t: FuzzTarget, data: Buffer): void {
  const crash = runOne(t, data);
  assert.equal(crash, undefined, `${t.name} crashed on ${JSON.stringify(data.toString('latin1').slice(0, 300))}: ${crash}`);
}

describe('fuzz harness', () => {
  it('the verdict allows only PortcullisErrors of the table with clean messages (so the properties below can fail)', () => {
    assert.equal(verdict(new PortcullisError('SignatureDoesNotMatch', 'nope')), undefined);
    assert.match(verdict(new TypeError('Cannot read properties of undefined'))!, /TypeError/);
    assert.match(verdict(new RangeError('Invalid array length'))!, /RangeError/);
    assert.match(verdict('a string')!, /a string/);
    assert.match(verdict(new PortcullisError('Bogus' as never, 'x'))!, /outside the table/);
    assert.match(verdict(new PortcullisError('InternalFailure', 'x\n    at parse (/work/dist/src/sigv4/parse.js:1:1)'))!, /internal detail/);
    const thrower: FuzzTarget = { name: 'thrower', seeds: () => [], dictionary: [], run: () => void JSON.parse('{') };
    assert.match(runOne(thrower, Buffer.alloc(0))!, /SyntaxError/);
  });

  it('every target accepts its own seeds without crashing, and the valid signed seeds verify', () => {
    for (const t of TARGETS) for (const s of t.seeds()) check(t, s);
    const request = TARGETS.find((t) => t.name === 'sigv4-request')!;
    for (const s of request.seeds()) assert.doesNotThrow(() => request.run(s), 'a correctly signed seed request verifies');
  });
});

for (const t of TARGETS) {
  describe(`fuzz target ${t.name}`, () => {
    it('arbitrary bytes', () => {
      fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (a) => check(t, Buffer.from(a))), { numRuns: RUNS });
    });
    it('arbitrary text (full Unicode, lone surrogates included)', () => {
      fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => check(t, Buffer.from(s, 'utf8'))), { numRuns: RUNS });
    });
    it('structure-aware mutations of valid inputs', () => {
      const seeds = t.seeds();
      fc.assert(
        fc.property(fc.nat({ max: seeds.length - 1 }), fc.array(op, { minLength: 1, maxLength: 6 }), (i, ops) => check(t, apply(seeds[i]!, ops, t.dictionary))),
        { numRuns: RUNS * 2 },
      );
    });
  });
}

describe('session-token codec', () => {
  const keys = [SEALED.key];
  const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!=+/ ';

  it('the sealed token opens, as issued', () => {
    assert.ok(openToken(SEALED.token, keys));
    assert.ok(openMessage(SEALED.message, keys));
  });

  it('arbitrary strings never open as a token or a message', () => {
    fc.assert(fc.property(fc.string({ maxLength: 400 }), (s) => {
      assert.equal(openToken(s, keys), undefined);
      assert.equal(openMessage(s, keys), undefined);
    }), { numRuns: RUNS * 2 });
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (s) => assert.equal(openToken(`PCT1.${SEALED.key.id}.${s}`, keys), undefined)), { numRuns: RUNS * 2 });
  });

  it('a valid token with any one character replaced, inserted or removed never opens', () => {
    const t = SEALED.token;
    fc.assert(fc.property(fc.nat({ max: t.length - 1 }), fc.constantFrom(...ALPHABET), fc.constantFrom('replace', 'insert', 'remove'), (i, c, how) => {
      const tampered = how === 'replace' ? t.slice(0, i) + c + t.slice(i + 1) : how === 'insert' ? t.slice(0, i) + c + t.slice(i) : t.slice(0, i) + t.slice(i + 1);
      fc.pre(tampered !== t);
      assert.equal(openToken(tampered, keys), undefined, `tampered at ${i} (${how} ${JSON.stringify(c)}) opened`);
    }), { numRuns: RUNS * 4 });
  });

  it('regression: characters outside base64url and spare bits of the last character no longer give a second spelling that opens', () => {
    const t = SEALED.token;
    const mid = t.length - 40;
    assert.equal(openToken(t.slice(0, mid) + '!' + t.slice(mid), keys), undefined, 'a character outside the alphabet');
    assert.equal(openToken(t + '=', keys), undefined, 'padding');
    assert.equal(openToken(t.slice(0, mid) + '\n' + t.slice(mid), keys), undefined, 'a line break');
    // The body's length in base64url decides whether the last character has spare bits; find a
    // token where it does and change only those bits.
    for (let n = 0; n < 8; n++) {
      const sealed = sealToken({ ...openToken(t, keys)!, sourceIdentity: 'x'.repeat(n) }, SEALED.key);
      const body = sealed.slice(sealed.lastIndexOf('.') + 1);
      if (body.length % 4 === 0) continue;
      const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const last = B64.indexOf(body.at(-1)!);
      const twin = sealed.slice(0, -1) + B64[last ^ 1];
      assert.ok(openToken(sealed, keys));
      assert.equal(openToken(twin, keys), undefined, 'the last character with a spare bit changed');
      return;
    }
    assert.fail('no token length with spare bits was found');
  });
});

describe('npm run fuzz (smoke)', () => {
  it('the coverage-guided runner fuzzes, grows a corpus and reports its figures', () => {
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'dist/fuzz/run.js'), '--seconds', '3', '--target', 'authorization-header', '--target', 'session-token', '--seed', '1', '--json'], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { inputs: number; crashes: number; reports: { target: string; inputs: number; corpus: number; features: number }[] };
    assert.equal(out.crashes, 0);
    assert.equal(out.reports.length, 2);
    for (const rep of out.reports) {
      assert.ok(rep.inputs > 20, `${rep.target}: ${rep.inputs} inputs`);
      assert.ok(rep.features > 0 && rep.corpus > 0, `${rep.target}: coverage was seen`);
    }
  });
});

describe('policy documents built from IAM words and the names Object.prototype has', () => {
  const target = TARGETS.find((t) => t.name === 'policy-document')!;
  const PROTO = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf'];
  const word = fc.constantFrom(...PROTO, 'AWS', 'Service', '*', 'aws:username', 's3:GetObject', 'StringLike', 'ForAnyValue:StringEquals', 'Bool');
  const text = fc.oneof(word, word.map((w) => `\${${w}}`), word.map((w) => `arn:aws:s3:::b/\${${w}}/*`));
  const principal = fc.oneof(fc.constant('*'), fc.dictionary(word, fc.oneof(text, fc.array(text, { maxLength: 3 })), { maxKeys: 3 }));
  const condition = fc.dictionary(word, fc.dictionary(word, fc.oneof(text, fc.array(text, { maxLength: 2 })), { maxKeys: 2 }), { maxKeys: 2 });
  const statement = fc.record({ Effect: fc.constantFrom('Allow', 'Deny'), Action: fc.oneof(text, fc.array(text, { minLength: 1, maxLength: 3 })), Resource: fc.oneof(text, fc.array(text, { minLength: 1, maxLength: 3 })), Principal: principal, Condition: condition }, { requiredKeys: ['Effect', 'Action', 'Resource'] });

  it('parse, compile and evaluate give a value or MalformedPolicyDocument, never another exception', () => {
    fc.assert(fc.property(fc.array(statement, { minLength: 1, maxLength: 3 }), (st) => {
      // Serialized by hand so that `__proto__` stays an own key, as a client would send it.
      const json = JSON.stringify({ Version: '2012-10-17', Statement: st }, (_, v: unknown) => v);
      check(target, Buffer.from(json));
      check(target, Buffer.from(json.replace(/"(constructor|toString)"/g, '"__proto__"')));
    }), { numRuns: RUNS * 2 });
  });
});

describe('wildcard matching (policy patterns)', () => {
  /** The matchers as they were, with RegExp: the reference for what a pattern means. */
  function regexPlain(p: string): RegExp {
    return new RegExp(`^${[...p].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'))).join('')}$`, 's');
  }
  function regexArn(p: string, resource: boolean): RegExp | undefined {
    if (!p.startsWith('arn:')) return regexPlain(p);
    const openEnd = resource && p.endsWith('*');
    let colons = 0;
    let src = '';
    [...p].forEach((c, i) => {
      if (c === '*') src += colons < 5 && !(openEnd && i === p.length - 1) ? '[^:]*' : '.*';
      else if (c === '?') src += colons < 5 ? '[^:]' : '.';
      else {
        if (c === ':') colons++;
        src += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
      }
    });
    return colons < 5 && !openEnd ? undefined : new RegExp(`^${src}$`, 's');
  }
  const pattern = fc.array(fc.constantFrom('a', 'b', ':', '*', '?', '/'), { maxLength: 12 }).map((a) => a.join(''));
  const value = fc.array(fc.constantFrom('a', 'b', ':', '/'), { maxLength: 14 }).map((a) => a.join(''));

  it('compileTokens and compileArnTokens mean what the RegExp they replace meant', () => {
    fc.assert(fc.property(pattern, value, fc.boolean(), (p, v, resource) => {
      assert.equal(compileTokens(tokenize(p, false, true), false)(v), regexPlain(p).test(v), `plain ${p} ~ ${v}`);
      const arnP = 'arn:' + p;
      const arnV = 'arn:' + v;
      const re = regexArn(arnP, resource);
      assert.equal(compileArnTokens(tokenize(arnP, false, true), false, resource)(arnV), re === undefined ? false : re.test(arnV), `arn ${arnP} ~ ${arnV} (resource ${resource})`);
    }), { numRuns: RUNS * 20 });
  });

  it('patterns with many wildcards take time linear in the value, not exponential', () => {
    const evil = 'a*'.repeat(30) + 'c';
    const value = 'a'.repeat(20_000);
    const started = performance.now();
    assert.equal(compileTokens(tokenize(evil, false, true), false)(value), false);
    assert.equal(compileArnTokens(tokenize(`arn:aws:s3:::${evil}`, false, true), false, true)(`arn:aws:s3:::${value}`), false);
    assert.equal(compileArnTokens(tokenize(`arn:aws:s3:${evil}`, false, true), false, false)(`arn:aws:s3:${value}:x:y`), false);
    // Bounded generously (a loaded machine); the RegExp took 40 s for 8 stars and 64 characters.
    assert.ok(performance.now() - started < 5000, `${(performance.now() - started).toFixed(0)} ms`);
  });
});

describe('deeply nested and very long inputs', () => {
  const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
  const cases: Array<[string, Buffer]> = [
    ['JSON nested 200 000 deep', Buffer.from(deep(200_000))],
    ['objects nested 100 000 deep', Buffer.from('{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000))],
    ['a policy whose Condition nests 100 000 deep', Buffer.from(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringLike":{"k":${deep(100_000)}}}}]}`)],
    ['a 1 MB string', Buffer.from(JSON.stringify({ Name: 'x'.repeat(1 << 20) }))],
    ['a million commas', Buffer.from('['.concat('1,'.repeat(500_000), '1]'))],
  ];
  for (const t of TARGETS.filter((x) => ['policy-document', 'json-body', 'form-body', 'sigv4-request', 'authorization-header', 'presigned-query', 'uri-path', 'session-token'].includes(x.name))) {
    it(`${t.name}: a value or a PortcullisError, in reasonable time`, () => {
      for (const [what, data] of cases) {
        const started = performance.now();
        const crash = runOne(t, data);
        assert.equal(crash, undefined, `${what}: ${crash}`);
        assert.ok(performance.now() - started < 20_000, `${what}: ${(performance.now() - started).toFixed(0)} ms`);
      }
    });
  }
});
