/**
 * Property-based fuzzing of the IAM and STS query APIs on a live gateway: every action we serve,
 * called by the administrator (so that requests get past authentication and authorization to
 * the handlers) with parameters drawn from valid, malformed, oversized and hostile values. The
 * only allowed answers are a success or an AWS error of the table in the query shape; never a
 * 500, never an "unexpected failure" in the log; and the gateway keeps serving.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { ERRORS } from '../../src/core/errors.js';
import { removeDir, startGateway, tempDir, type RunningGateway } from '../helpers/gateway.js';
import { callSts } from '../helpers/signedRequest.js';
import { errorOf, INTERNAL_TEXT, sendRaw, signedForm } from './live.js';

const IAM_ACTIONS = 'PutUserPolicy GetUserPolicy ListUserPolicies DeleteUserPolicy AttachUserPolicy DetachUserPolicy ListAttachedUserPolicies CreateUser GetUser ListUsers DeleteUser CreateAccessKey ListAccessKeys UpdateAccessKey DeleteAccessKey GetAccessKeyLastUsed CreatePolicy GetPolicy ListPolicies DeletePolicy CreatePolicyVersion GetPolicyVersion ListPolicyVersions SetDefaultPolicyVersion DeletePolicyVersion PutUserPermissionsBoundary DeleteUserPermissionsBoundary CreateGroup GetGroup ListGroups DeleteGroup AddUserToGroup RemoveUserFromGroup ListGroupsForUser PutGroupPolicy GetGroupPolicy ListGroupPolicies DeleteGroupPolicy AttachGroupPolicy DetachGroupPolicy ListAttachedGroupPolicies CreateRole GetRole ListRoles DeleteRole UpdateRole UpdateAssumeRolePolicy PutRolePermissionsBoundary DeleteRolePermissionsBoundary PutRolePolicy GetRolePolicy ListRolePolicies DeleteRolePolicy AttachRolePolicy DetachRolePolicy ListAttachedRolePolicies TagUser UntagUser ListUserTags TagRole UntagRole ListRoleTags TagPolicy UntagPolicy ListPolicyTags SimulatePrincipalPolicy SimulateCustomPolicy GetAccountAuthorizationDetails CreateOpenIDConnectProvider GetOpenIDConnectProvider ListOpenIDConnectProviders DeleteOpenIDConnectProvider AddClientIDToOpenIDConnectProvider RemoveClientIDFromOpenIDConnectProvider UpdateOpenIDConnectProviderThumbprint'.split(' ');
const STS_ACTIONS = 'GetCallerIdentity GetAccessKeyInfo DecodeAuthorizationMessage GetFederationToken GetSessionToken AssumeRole AssumeRoleWithWebIdentity'.split(' ');
const PARAMS = 'AccessKeyId ActionNames AssumeRolePolicyDocument CallerArn ClientID ClientIDList Description DurationSeconds EncodedMessage Filter GroupName Marker MaxItems MaxSessionDuration Name OnlyAttached OpenIDConnectProviderArn Path PathPrefix PermissionsBoundary Policy PolicyArn PolicyDocument PolicyName PolicySourceArn ResourceArns ResourceOwner ResourcePolicy RoleArn RoleName RoleSessionName Scope SetAsDefault SourceIdentity Status TagKeys ThumbprintList TransitiveTagKeys Url UserName VersionId WebIdentityToken PolicyArns'.split(' ');
const LISTS = ['ActionNames', 'ClientIDList', 'Filter', 'ResourceArns', 'TagKeys', 'ThumbprintList', 'TransitiveTagKeys', 'PolicyArns', 'Tags'];

const QUERY_CODES = new Set(Object.values(ERRORS).map((e) => e.query.code));

let gw: RunningGateway;
let account = '';
const dirs: string[] = [];

before(async () => {
  const dataDir = tempDir('portcullis-fuzzapi-');
  dirs.push(dataDir);
  gw = await startGateway({ dataDir, timeoutMs: 60_000 });
  account = /<Account>(\d{12})</.exec((await callSts(gw)).body)![1]!;
});

after(async () => {
  if (gw) assert.equal(await gw.stop(), 0, gw.stderr());
  for (const d of dirs) removeDir(d);
});

const POLICY = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }] });
const TRUST = () => JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: 'sts:AssumeRole' }] });

function values(): fc.Arbitrary<string> {
  return fc.oneof(
    { arbitrary: fc.constantFrom('alice', 'bob', 'r1', 'g1', 'p1', 'session1'), weight: 6 },
    fc.constantFrom('alice', 'bob', 'r1', 'g1', 'p1', 'v1', 'v2', '/', '/team/', 'Active', 'Inactive', 'true', 'false', 'Local', 'AWS', 'All', 'User', 'Role', 'Group', 'LocalManagedPolicy'),
    fc.constantFrom('0', '-1', '1', '900', '3600', '43200', '129600', '1e3', '0x10', 'NaN', 'Infinity', '99999999999999999999', '1.5', ' 900', '900 '),
    fc.constantFrom(POLICY, '{', '{}', '[]', 'null', '"x"', '{"Version":"2012-10-17","Statement":[]}', JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: `arn:aws:s3:::${'a*'.repeat(12)}c` }] }), '{"__proto__":{"Version":"2012-10-17"}}', '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Principal":{"constructor":"x"}}}'),
    fc.constantFrom('arn:aws:iam::aws:policy/ReadOnlyAccess', 'arn:aws:iam::123456789012:policy/p1', 'arn:aws:iam::123456789012:role/r1', 'arn:aws:iam::123456789012:user/alice', 'arn:aws:iam::123456789012:oidc-provider/issuer.example', 'arn:aws', 'arn:::::', 'arn:aws:iam::constructor:role/__proto__', 'https://issuer.example', 'https://', 'http://x', '::'),
    fc.constantFrom('constructor', '__proto__', 'toString', 'hasOwnProperty', '${aws:username}', '<x>&amp;', '\u0000', '\uFFFF', '\uD800', '%', '%%', '..', '../..', ' ', ''),
    fc.constantFrom('x'.repeat(64), 'x'.repeat(65), 'x'.repeat(129), 'a'.repeat(2048), 'PCT1.abc.def', 'a'.repeat(20)),
    fc.string({ maxLength: 40 }),
    fc.string({ unit: 'binary', maxLength: 20 }),
  );
}

const call = fc.record({
  action: fc.constantFrom(...IAM_ACTIONS, ...STS_ACTIONS),
  params: fc.subarray(PARAMS, { maxLength: 14 }).chain((names) => fc.tuple(...names.map((n) => fc.tuple(fc.constant(n), values())))).map((pairs) => Object.fromEntries(pairs)),
  lists: fc.array(fc.tuple(fc.constantFrom(...LISTS), fc.integer({ min: 0, max: 3 }), fc.constantFrom('', '.Key', '.Value'), values()), { maxLength: 4 }),
  useTrust: fc.boolean(),
});

describe('IAM and STS actions with arbitrary parameters', () => {
  it('answer a success or an AWS error of the table, never a 500', async (t) => {
    const seen = new Map<string, number>();
    await fc.assert(fc.asyncProperty(call, async ({ action, params, lists, useTrust }) => {
      const form = new URLSearchParams({ Action: action, Version: STS_ACTIONS.includes(action) ? '2011-06-15' : '2010-05-08' });
      for (const [k, v] of Object.entries(params)) form.set(k, k === 'AssumeRolePolicyDocument' && useTrust ? TRUST() : v.replace('123456789012', account));
      for (const [name, i, suffix, v] of lists) form.set(`${name}.member.${i}${suffix}`, v);
      const service = STS_ACTIONS.includes(action) ? 'sts' : 'iam';
      const r = await sendRaw(gw, signedForm(gw, form.toString(), { credentials: gw.admin, service }), 30_000);
      assert.ok(r.status < 500, `${action} ${form}: ${r.status} ${r.body}`);
      assert.doesNotMatch(r.body, INTERNAL_TEXT, `${action}: internal text`);
      if (r.status >= 300) {
        const e = errorOf(r);
        assert.ok(QUERY_CODES.has(e.code), `${action}: ${e.code} is not in the error table`);
        seen.set(e.code, (seen.get(e.code) ?? 0) + 1);
      } else {
        assert.match(r.body, new RegExp(`^<${action}Response xmlns="[^"]+">`), `${action}: a response envelope`);
        seen.set('200', (seen.get('200') ?? 0) + 1);
      }
    }), { numRuns: Number(process.env['PORTCULLIS_FUZZ_RUNS'] ?? 120) * 2 });
    t.diagnostic(`answers: ${[...seen].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ')}`);
    // The runs reached handlers, not only the front door.
    assert.ok((seen.get('200') ?? 0) > 0, JSON.stringify([...seen]));
    assert.ok(seen.size >= 4, JSON.stringify([...seen]));
  });

  it('nothing unexpected was logged, and the gateway still serves', async () => {
    assert.doesNotMatch(gw.stderr(), /unexpected failure/, gw.stderr().split('\n').filter((l) => /unexpected/.test(l)).slice(0, 5).join('\n'));
    const r = await callSts(gw);
    assert.equal(r.status, 200);
  });
});
