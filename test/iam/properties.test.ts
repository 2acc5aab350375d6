/**
 * Properties of the IAM evaluation over generated policies and requests (fast-check):
 *
 * - an explicit Deny that applies always wins: add one to any set (as an identity policy, in the
 *   boundary, as a session policy or as a resource policy) and the decision is explicitDeny;
 * - adding an Allow statement anywhere never turns an explicitDeny into anything else;
 * - adding a permissions boundary or a session policy to a principal that had none never turns a
 *   denied request into an allowed one (they only ever take permissions away);
 * - evaluation is deterministic, and independent of the order of the policies in each list and
 *   of the statements in each policy.
 *
 * Sources: "Policy evaluation logic" and "How AWS enforcement code logic evaluates requests"
 * (an explicit deny in any policy overrides any allow), "Permissions boundaries for IAM
 * entities" and "Session policies" (they set maximum permissions and grant none), "Overview of
 * JSON policies" (statements and policies are ORed, so their order is irrelevant).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  type AuthzPrincipal, type AuthzRequest, type CompiledPolicy, compilePolicy, type Decision, evaluate, parsePolicy,
  type PolicyKind, type PolicySet, RequestContext,
} from '../../src/iam/index.js';

const RUNS = 300;
const ACCT = '111122223333';
const OTHER = '444455556666';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Doc = { Version: string; Statement: Array<Record<string, Json>> };

// ---------------------------------------------------------------------------------------------
// The world the generators draw from: a few principals, actions, resources and context keys,
// chosen so that generated statements often apply to generated requests.

const ALICE: AuthzPrincipal = { kind: 'user', arn: `arn:aws:iam::${ACCT}:user/alice`, accountId: ACCT };
const SESSION: AuthzPrincipal = {
  kind: 'role-session',
  arn: `arn:aws:sts::${ACCT}:assumed-role/app/s1`,
  accountId: ACCT,
  roleArn: `arn:aws:iam::${ACCT}:role/app`,
};
const FED: AuthzPrincipal = { kind: 'federated', arn: `arn:aws:sts::${ACCT}:federated-user/carol`, accountId: ACCT };
const DANA: AuthzPrincipal = { kind: 'user', arn: `arn:aws:iam::${OTHER}:user/dana`, accountId: OTHER };

const ACTIONS = ['s3:GetObject', 's3:PutObject', 's3:ListBucket', 'ec2:RunInstances', 'iam:CreateUser'];
const ACTION_PATTERNS = [...ACTIONS, 's3:*', 's3:Get*', 'S3:getobject', 'ec2:*', '*', 'iam:*User', 's3:?utObject'];
const RESOURCES = ['arn:aws:s3:::b1/k1', 'arn:aws:s3:::b1/k2', 'arn:aws:s3:::b2/k1', 'arn:aws:s3:::b1', `arn:aws:ec2:us-east-1:${ACCT}:instance/i-1`, `arn:aws:iam::${ACCT}:user/u1`, '*'];
const RESOURCE_PATTERNS = [...RESOURCES, 'arn:aws:s3:::b1/*', 'arn:aws:s3:::*', 'arn:aws:s3:::b?/k1', `arn:aws:ec2:*:${ACCT}:instance/*`, 'arn:aws:s3:::b1/${aws:username}'];
const CONDITIONS: Array<Record<string, Json>> = [
  { StringEquals: { 'aws:username': 'alice' } },
  { StringNotEquals: { 'aws:username': 'alice' } },
  { StringLikeIfExists: { 'aws:PrincipalTag/team': 'red*' } },
  { Bool: { 'aws:SecureTransport': 'true' } },
  { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } },
  { NotIpAddress: { 'aws:SourceIp': ['10.0.0.0/8', '2001:db8::/32'] } },
  { NumericLessThan: { 's3:max-keys': '10' } },
  { 'ForAnyValue:StringEquals': { 'aws:TagKeys': ['a', 'b'] } },
  { 'ForAllValues:StringLike': { 'aws:TagKeys': 'a*' } },
  { Null: { 'aws:PrincipalTag/team': 'true' } },
  { DateLessThan: { 'aws:CurrentTime': '2024-01-01T00:00:00Z' } },
  { ArnLike: { 'aws:PrincipalArn': `arn:aws:iam::${ACCT}:*` } },
];
const PRINCIPAL_SPECS: Json[] = ['*', { AWS: ALICE.arn }, { AWS: ACCT }, { AWS: `arn:aws:iam::${OTHER}:root` }, { AWS: SESSION.roleArn! }, { AWS: SESSION.arn }, { AWS: FED.arn }, { AWS: DANA.arn }];

const listOrOne = <T>(arb: fc.Arbitrary<T>) => fc.array(arb, { minLength: 1, maxLength: 2 }).map((a) => (a.length === 1 ? a[0]! : a));

/** A statement; resource-policy statements also carry a Principal or NotPrincipal. */
const statementArb = (forResource: boolean): fc.Arbitrary<Record<string, Json>> =>
  fc
    .record({
      effect: fc.constantFrom('Allow', 'Deny'),
      notAction: fc.boolean(),
      actions: listOrOne(fc.constantFrom(...ACTION_PATTERNS)),
      notResource: fc.boolean(),
      resources: listOrOne(fc.constantFrom(...RESOURCE_PATTERNS)),
      condition: fc.option(fc.constantFrom(...CONDITIONS), { freq: 2 }),
      principal: fc.constantFrom(...PRINCIPAL_SPECS),
      notPrincipal: fc.boolean().map((b) => b && forResource),
    })
    .map((s) => {
      const out: Record<string, Json> = { Effect: s.effect };
      out[s.notAction ? 'NotAction' : 'Action'] = s.actions as Json;
      out[s.notResource ? 'NotResource' : 'Resource'] = s.resources as Json;
      if (s.condition !== null) out['Condition'] = s.condition;
      if (forResource) out[s.notPrincipal ? 'NotPrincipal' : 'Principal'] = s.principal;
      return out;
    });

/** Sids make statements recognizable after a shuffle. */
const withSids = (statements: Array<Record<string, Json>>, tag: string): Doc => ({
  Version: '2012-10-17',
  Statement: statements.map((s, i) => ({ Sid: `${tag}S${i}`, ...s })),
});

const docArb = (forResource: boolean, tag: string) => fc.array(statementArb(forResource), { minLength: 1, maxLength: 3 }).map((s) => withSids(s, tag));

interface Docs {
  identity: Doc[];
  boundary: Doc | undefined;
  session: Doc[] | undefined;
  resource: Doc[] | undefined;
}

const docsArb: fc.Arbitrary<Docs> = fc.record({
  identity: fc.array(docArb(false, 'I'), { maxLength: 3 }),
  boundary: fc.option(docArb(false, 'B'), { nil: undefined }),
  session: fc.option(fc.array(docArb(false, 'P'), { minLength: 1, maxLength: 2 }), { nil: undefined }),
  resource: fc.option(fc.array(docArb(true, 'R'), { minLength: 1, maxLength: 2 }), { nil: undefined }),
});

interface Req {
  principal: AuthzPrincipal;
  action: string;
  resource: string;
  resourceAccount: string | undefined;
  context: Record<string, string | string[]>;
}

const contextArb = fc
  .record(
    {
      'aws:username': fc.constantFrom('alice', 'bob'),
      'aws:SecureTransport': fc.constantFrom('true', 'false'),
      'aws:SourceIp': fc.constantFrom('10.1.2.3', '192.0.2.7', '2001:db8::9'),
      's3:max-keys': fc.constantFrom('5', '50'),
      'aws:TagKeys': fc.subarray(['a', 'b', 'c']),
      'aws:PrincipalTag/team': fc.constantFrom('red', 'redwood', 'blue'),
      'aws:CurrentTime': fc.constantFrom('2023-06-01T00:00:00Z', '2025-06-01T00:00:00Z'),
    },
    { requiredKeys: [] },
  )
  .map((c) => c as Record<string, string | string[]>);

const requestArb: fc.Arbitrary<Req> = fc.record({
  principal: fc.constantFrom(ALICE, SESSION, FED, DANA),
  action: fc.constantFrom(...ACTIONS),
  resource: fc.constantFrom(...RESOURCES),
  resourceAccount: fc.constantFrom(undefined, ACCT, OTHER),
  context: contextArb,
}).map((r) => ({ ...r, context: { ...r.context, 'aws:PrincipalArn': r.principal.arn } }));

// ---------------------------------------------------------------------------------------------

function compile(id: string, doc: Doc, kind: PolicyKind): CompiledPolicy {
  return compilePolicy(id, parsePolicy(JSON.stringify(doc), kind), kind);
}

/** Policy ids carry the document's original position, so that they survive a shuffle. */
function policySet(d: Docs, order?: { identity: number[]; session: number[]; resource: number[] }): PolicySet {
  const pick = <T>(list: T[], o: number[] | undefined) => (o ? o.map((i) => [list[i]!, i] as const) : list.map((x, i) => [x, i] as const));
  return {
    identity: pick(d.identity, order?.identity).map(([doc, i]) => compile(`identity:${i}`, doc, 'identity')),
    ...(d.boundary ? { boundary: compile('boundary:0', d.boundary, 'identity') } : {}),
    ...(d.session ? { session: pick(d.session, order?.session).map(([doc, i]) => compile(`session:${i}`, doc, 'identity')) } : {}),
    ...(d.resource ? { resource: pick(d.resource, order?.resource).map(([doc, i]) => compile(`resource:${i}`, doc, 'resource')) } : {}),
  };
}

function authz(r: Req): AuthzRequest {
  return {
    principal: r.principal,
    action: r.action,
    resource: r.resource,
    ...(r.resourceAccount !== undefined ? { resourceAccount: r.resourceAccount } : {}),
    context: new RequestContext(Object.entries(r.context)),
  };
}

const run = (d: Docs, r: Req): Decision => evaluate(authz(r), policySet(d));

/** A Deny statement that certainly applies to the request (its action, its resource, no condition). */
function applyingDeny(r: Req, style: number, forResource: boolean): Record<string, Json> {
  const service = r.action.split(':')[0]!;
  const action = [r.action, `${service}:*`, '*', r.action.toUpperCase()][style % 4]!;
  const resource = style % 2 === 0 ? r.resource : '*';
  return { Effect: 'Deny', Action: action, Resource: resource, ...(forResource ? { Principal: '*' } : {}) };
}

type Role = 'identity' | 'boundary' | 'session' | 'resource';
const ROLES: Role[] = ['identity', 'boundary', 'session', 'resource'];

/** `d` with `statement` added in `role`: as a new policy, or into the boundary (there is one boundary). */
function add(d: Docs, role: Role, statement: Record<string, Json>, tag: string): Docs {
  const doc = withSids([statement], tag);
  switch (role) {
    case 'identity':
      return { ...d, identity: [...d.identity, doc] };
    case 'boundary':
      return { ...d, boundary: d.boundary ? { ...d.boundary, Statement: [...d.boundary.Statement, { Sid: `${tag}X`, ...statement }] } : doc };
    case 'session':
      return { ...d, session: [...(d.session ?? []), doc] };
    case 'resource':
      return { ...d, resource: [...(d.resource ?? []), doc] };
  }
}

/** A deterministic permutation of 0..n-1 from a seed. */
function permutation(n: number, seed: number): number[] {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}

function shuffleStatements(doc: Doc, seed: number): Doc {
  return { ...doc, Statement: permutation(doc.Statement.length, seed).map((i) => doc.Statement[i]!) };
}

const matchedSet = (dec: Decision) => dec.matched.map((m) => `${m.role}|${m.policy}|${m.sid}|${m.effect}`).sort();

describe('IAM evaluation properties', () => {
  it('generated policies are valid and the generators reach every decision', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(docsArb, requestArb, (d, r) => {
        seen.add(run(d, r).decision);
      }),
      { numRuns: 1000 },
    );
    assert.deepEqual([...seen].sort(), ['allowed', 'explicitDeny', 'implicitDeny']);
  });

  it('an explicit Deny that applies always wins, whichever policy type holds it', () => {
    fc.assert(
      fc.property(docsArb, requestArb, fc.constantFrom(...ROLES), fc.nat(), (d, r, role, style) => {
        const dec = run(add(d, role, applyingDeny(r, style, role === 'resource'), 'D'), r);
        assert.equal(dec.decision, 'explicitDeny', `deny in ${role}: ${dec.reason}`);
        assert.ok(dec.matched.length > 0 && dec.matched.every((m) => m.effect === 'Deny'));
      }),
      { numRuns: RUNS },
    );
  });

  it('adding an Allow statement never turns an explicit deny into anything else', () => {
    let checked = 0;
    fc.assert(
      fc.property(
        docsArb,
        requestArb,
        fc.constantFrom(...ROLES),
        fc.boolean(),
        statementArb(false),
        fc.constantFrom(...PRINCIPAL_SPECS),
        (d, r, role, targeted, random, principal) => {
          const before = run(d, r);
          fc.pre(before.decision === 'explicitDeny');
          checked++;
          const base = targeted ? { Action: r.action, Resource: r.resource } : { ...random };
          const allow: Record<string, Json> = { ...base, Effect: 'Allow', ...(role === 'resource' ? { Principal: principal } : {}) };
          const after = run(add(d, role, allow, 'A'), r);
          assert.equal(after.decision, 'explicitDeny');
        },
      ),
      { numRuns: RUNS },
    );
    assert.ok(checked >= RUNS / 2, `only ${checked} explicit denies were generated`);
  });

  it('adding a permissions boundary to a principal without one never allows what was denied', () => {
    fc.assert(
      fc.property(docsArb, requestArb, docArb(false, 'B'), (d, r, boundary) => {
        const base = { ...d, boundary: undefined };
        const before = run(base, r);
        const after = run({ ...base, boundary }, r);
        if (before.decision !== 'allowed') assert.notEqual(after.decision, 'allowed', `boundary granted: ${after.reason}`);
        if (before.decision === 'explicitDeny') assert.equal(after.decision, 'explicitDeny');
      }),
      { numRuns: RUNS },
    );
  });

  it('adding a session policy to a session without one never allows what was denied', () => {
    fc.assert(
      fc.property(docsArb, requestArb, fc.array(docArb(false, 'P'), { minLength: 1, maxLength: 2 }), (d, r, session) => {
        const base = { ...d, session: undefined };
        const before = run(base, r);
        const after = run({ ...base, session }, r);
        if (before.decision !== 'allowed') assert.notEqual(after.decision, 'allowed', `session policy granted: ${after.reason}`);
        if (before.decision === 'explicitDeny') assert.equal(after.decision, 'explicitDeny');
      }),
      { numRuns: RUNS },
    );
  });

  it('evaluation is deterministic', () => {
    fc.assert(
      fc.property(docsArb, requestArb, (d, r) => {
        const set = policySet(d);
        const a = evaluate(authz(r), set);
        const b = evaluate(authz(r), set);
        const c = run(d, r);
        assert.deepEqual(b, a);
        assert.deepEqual(c, a);
      }),
      { numRuns: RUNS },
    );
  });

  it('the order of policies and of statements does not change the decision', () => {
    fc.assert(
      fc.property(docsArb, requestArb, fc.nat(), (d, r, seed) => {
        const shuffled: Docs = {
          identity: d.identity.map((doc, i) => shuffleStatements(doc, seed + i)),
          boundary: d.boundary && shuffleStatements(d.boundary, seed + 101),
          session: d.session?.map((doc, i) => shuffleStatements(doc, seed + 201 + i)),
          resource: d.resource?.map((doc, i) => shuffleStatements(doc, seed + 301 + i)),
        };
        const order = {
          identity: permutation(d.identity.length, seed + 1),
          session: permutation(d.session?.length ?? 0, seed + 2),
          resource: permutation(d.resource?.length ?? 0, seed + 3),
        };
        const a = evaluate(authz(r), policySet(d));
        const b = evaluate(authz(r), policySet(shuffled, order));
        assert.equal(b.decision, a.decision);
        assert.equal(b.reason, a.reason);
        assert.deepEqual(matchedSet(b), matchedSet(a));
      }),
      { numRuns: RUNS },
    );
  });
});
