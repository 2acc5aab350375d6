/**
 * MalformedPolicyDocument errors say what is wrong: the message names the offending field or
 * value, so that whoever wrote the policy can find the mistake. (Whether a document is valid
 * at all is the corpus' business: test/iam/cases/grammar.json.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isPortcullisError } from '../../src/core/errors.js';
import { parsePolicy, type PolicyKind } from '../../src/iam/index.js';

const V = '2012-10-17';
const ACCT = '111122223333';
const st = (extra: Record<string, unknown> = {}) => ({ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::example-bucket/*', ...extra });
const rst = (extra: Record<string, unknown> = {}) => st({ Principal: { AWS: `arn:aws:iam::${ACCT}:user/alice` }, ...extra });
const doc = (...statements: unknown[]) => ({ Version: V, Statement: statements });

interface MessageCase {
  readonly what: string;
  readonly kind: PolicyKind;
  readonly policy: unknown;
  /** Every one of these must appear in the message (compared without regard to case). */
  readonly names: readonly string[];
}

const CASES: readonly MessageCase[] = [
  { what: 'an Effect that is neither Allow nor Deny', kind: 'identity', policy: doc(st({ Effect: 'Permit' })), names: ['Permit'] },
  { what: 'a missing Effect', kind: 'identity', policy: doc({ Action: 's3:GetObject', Resource: '*' }), names: ['effect'] },
  { what: 'an unsupported Version', kind: 'identity', policy: { Version: '2013-01-01', Statement: [st()] }, names: ['2013-01-01'] },
  { what: 'an unknown condition operator', kind: 'identity', policy: doc(st({ Condition: { StringEqualz: { 'aws:username': 'a' } } })), names: ['StringEqualz'] },
  { what: 'Null with IfExists', kind: 'identity', policy: doc(st({ Condition: { NullIfExists: { 'aws:TokenIssueTime': 'true' } } })), names: ['NullIfExists'] },
  { what: 'a condition key without a prefix', kind: 'identity', policy: doc(st({ Condition: { StringEquals: { SourceIp: 'x' } } })), names: ['SourceIp'] },
  { what: 'a condition value that is an object', kind: 'identity', policy: doc(st({ Condition: { StringEquals: { 'aws:username': { a: 1 } } } })), names: ['StringEquals', 'aws:username'] },
  { what: 'a condition key with no values', kind: 'identity', policy: doc(st({ Condition: { StringEquals: { 'aws:username': [] } } })), names: ['StringEquals', 'aws:username'] },
  { what: 'an unknown principal type', kind: 'resource', policy: doc(rst({ Principal: { User: 'alice' } })), names: ['User'] },
  { what: 'a malformed AWS principal', kind: 'resource', policy: doc(rst({ Principal: { AWS: 'alice' } })), names: ['alice'] },
  { what: 'an action without a service prefix', kind: 'identity', policy: doc(st({ Action: 's3GetObject' })), names: ['s3GetObject'] },
  { what: 'a NotAction without a service prefix', kind: 'identity', policy: doc({ Effect: 'Allow', NotAction: 'GetObject', Resource: '*' }), names: ['NotAction', 'GetObject'] },
  { what: 'a resource that is not an ARN', kind: 'identity', policy: doc(st({ Resource: 'example-bucket/key' })), names: ['example-bucket/key'] },
  { what: 'a NotResource that is not an ARN', kind: 'identity', policy: doc({ Effect: 'Allow', Action: 's3:GetObject', NotResource: 'bucket' }), names: ['NotResource', 'bucket'] },
  { what: 'an empty Action list', kind: 'identity', policy: doc(st({ Action: [] })), names: ['Action'] },
  { what: 'an unknown statement field', kind: 'identity', policy: doc(st({ Actions: 's3:PutObject' })), names: ['Actions'] },
  { what: 'an unknown top-level field', kind: 'identity', policy: { Version: V, Statements: [st()] }, names: ['Statements'] },
  { what: 'a missing Statement', kind: 'identity', policy: { Version: V }, names: ['Statement'] },
  { what: 'Principal in an identity policy', kind: 'identity', policy: doc(st({ Principal: '*' })), names: ['principal'] },
  { what: 'a missing Principal in a resource policy', kind: 'resource', policy: doc(st()), names: ['Principal'] },
  { what: 'a missing Resource in an identity policy', kind: 'identity', policy: doc({ Effect: 'Allow', Action: 's3:GetObject' }), names: ['resource'] },
  { what: 'both Action and NotAction', kind: 'identity', policy: doc(st({ NotAction: 's3:PutObject' })), names: ['Action', 'NotAction'] },
  { what: 'both Resource and NotResource', kind: 'identity', policy: doc(st({ NotResource: 'arn:aws:s3:::x' })), names: ['Resource', 'NotResource'] },
  { what: 'both Principal and NotPrincipal', kind: 'resource', policy: doc(rst({ NotPrincipal: '*' })), names: ['Principal', 'NotPrincipal'] },
  { what: 'a Sid with a hyphen in an IAM policy', kind: 'identity', policy: doc(st({ Sid: 'read-only' })), names: ['Sid'] },
  { what: 'two statements with the same Sid', kind: 'identity', policy: doc(st({ Sid: 'A' }), st({ Sid: 'A', Action: 's3:PutObject' })), names: ['Sid', 'unique'] },
  { what: 'a statement that is not an object', kind: 'identity', policy: doc(st(), 'oops'), names: ['Statement 2'] },
];

function messageOf(text: string, kind: PolicyKind): string {
  try {
    parsePolicy(text, kind);
  } catch (e) {
    assert.ok(isPortcullisError(e), `not a PortcullisError: ${String(e)}`);
    assert.equal(e.code, 'MalformedPolicyDocument');
    return e.message;
  }
  return assert.fail('the policy was accepted');
}

describe('MalformedPolicyDocument messages name the problem', () => {
  for (const c of CASES) {
    it(c.what, () => {
      const message = messageOf(JSON.stringify(c.policy), c.kind);
      for (const name of c.names) assert.ok(message.toLowerCase().includes(name.toLowerCase()), `"${message}" does not mention ${name}`);
    });
  }

  it('text that is not JSON is a MalformedPolicyDocument, not a SyntaxError', () => {
    const message = messageOf('{"Version": "2012-10-17", "Statement": [', 'identity');
    assert.match(message, /syntax/i);
  });

  it('a policy that is a JSON array is refused with a message about the document', () => {
    const message = messageOf(JSON.stringify([doc(st())]), 'identity');
    assert.match(message, /object/i);
  });
});
