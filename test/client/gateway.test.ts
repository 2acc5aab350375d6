/**
 * The SDK against a running gateway: the IAM and STS clients, and the credential chain from
 * each source, ending in real calls: environment, a shared credentials profile, an assume-role
 * profile (source_profile, external_id, duration_seconds, role_session_name), credential_source
 * Environment, credential_process, a web identity token file; and refresh of expiring
 * credentials under a clock moved forward.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixedClock } from '../../src/core/clock.js';
import {
  CredentialsInvalid, defaultProvider, IamClient, PolicyAgent, ServiceError, staticCredentials, StsClient, type CredentialProvider, type Credentials,
} from '../../src/client/index.js';
import { removeDir, startGateway, type RunningGateway } from '../helpers/gateway.js';

const ISSUER = 'https://idp.example.test/client';
const AUDIENCE = 'portcullis-client-test';

describe('SDK against the gateway', () => {
  let gw: RunningGateway;
  let work: string;
  let agent: PolicyAgent;
  let iam: IamClient;
  let account: string;
  let dev: { accessKeyId: string; secretAccessKey: string };
  const oidcKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });

  const trust = (statement: object) => JSON.stringify({ Version: '2012-10-17', Statement: [statement] });
  const sts = (credentials?: CredentialProvider) => new StsClient({ endpoint: gw.url, agent, ...(credentials ? { credentials } : {}) });
  /** Files and env for a chain that sees only what the test gives it. */
  const envFor = (extra: Record<string, string> = {}) => ({
    HOME: work, PATH: process.env['PATH'] ?? '',
    AWS_CONFIG_FILE: join(work, 'config'), AWS_SHARED_CREDENTIALS_FILE: join(work, 'credentials'), ...extra,
  });
  const chainFor = (env: Record<string, string>, clock?: ReturnType<typeof fixedClock>, profile?: string) =>
    defaultProvider({ env, ...(profile ? { profile } : {}), ...(clock ? { clock } : {}), sts: { endpoint: gw.url, agent } });

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'portcullis-sdk-'));
    const jwks = join(work, 'jwks.json');
    writeFileSync(jwks, JSON.stringify({ keys: [{ ...oidcKey.publicKey.export({ format: 'jwk' }), kid: 'k1', use: 'sig', alg: 'ES256' }] }));
    writeFileSync(join(work, 'gw.json'), JSON.stringify({ oidc: { jwks: { [ISSUER]: jwks } } }));
    gw = await startGateway({ args: ['--config', join(work, 'gw.json')] });
    agent = new PolicyAgent({ ca: gw.caPem });
    iam = new IamClient({ endpoint: gw.url, agent, credentials: staticCredentials(gw.admin) });
    account = (await sts(staticCredentials(gw.admin)).getCallerIdentity()).account;

    // A user `dev` who may assume the role `Deployer` with an external id.
    await iam.createUser('dev');
    const key = await iam.createAccessKey('dev');
    dev = { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey };
    await iam.putInlinePolicy('user', 'dev', 'assume', JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: '*' }] }));
    await iam.createRole('Deployer', trust({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:user/dev` }, Action: 'sts:AssumeRole', Condition: { StringEquals: { 'sts:ExternalId': 'ext-42' } } }), { maxSessionDuration: 3600 });
    await iam.attachPolicy('role', 'Deployer', 'arn:aws:iam::aws:policy/ReadOnlyAccess');
    // A role for web identity.
    const provider = await iam.call('CreateOpenIDConnectProvider', { Url: ISSUER, 'ClientIDList.member.1': AUDIENCE, 'ThumbprintList.member.1': '0123456789abcdef0123456789abcdef01234567' });
    const providerArn = provider.children.find((c) => c.name === 'OpenIDConnectProviderArn')!.text;
    await iam.createRole('WebReader', trust({ Effect: 'Allow', Principal: { Federated: providerArn }, Action: 'sts:AssumeRoleWithWebIdentity', Condition: { StringEquals: { 'idp.example.test/client:aud': AUDIENCE } } }));

    writeFileSync(join(work, 'credentials'), [
      '[dev]', `aws_access_key_id = ${dev.accessKeyId}`, `aws_secret_access_key = ${dev.secretAccessKey}`,
      '[admin]', `aws_access_key_id = ${gw.admin.accessKeyId}`, `aws_secret_access_key = ${gw.admin.secretAccessKey}`, '',
    ].join('\n'));
    const helper = join(work, 'cred-helper.mjs');
    // A credential_process that asks the gateway for a session token with dev's key.
    writeFileSync(helper, [
      '#!/usr/bin/env node',
      `const { StsClient, PolicyAgent, staticCredentials } = await import(${JSON.stringify(new URL('../../src/client/index.js', import.meta.url).href)});`,
      `const sts = new StsClient({ endpoint: process.argv[2], agent: new PolicyAgent({ caFile: process.argv[3] }), credentials: staticCredentials({ accessKeyId: process.env.DEV_ID, secretAccessKey: process.env.DEV_SECRET }) });`,
      'const c = await sts.getSessionToken({ durationSeconds: 900 });',
      'process.stdout.write(JSON.stringify({ Version: 1, AccessKeyId: c.accessKeyId, SecretAccessKey: c.secretAccessKey, SessionToken: c.sessionToken, Expiration: new Date(c.expiration).toISOString() }));',
    ].join('\n'));
    chmodSync(helper, 0o755);
    writeFileSync(join(work, 'token.jwt'), jwt({ sub: 'svc-1' }));
    writeFileSync(join(work, 'config'), [
      '[profile deployer]', `role_arn = arn:aws:iam::${account}:role/Deployer`, 'source_profile = dev', 'external_id = ext-42',
      'duration_seconds = 900', 'role_session_name = ci-run-7',
      '[profile wrong-external-id]', `role_arn = arn:aws:iam::${account}:role/Deployer`, 'source_profile = dev', 'external_id = nope',
      '[profile from-env]', `role_arn = arn:aws:iam::${account}:role/Deployer`, 'credential_source = Environment', 'external_id = ext-42',
      '[profile process]', `credential_process = "${process.execPath}" "${helper}" ${gw.url} "${join(gw.dataDir, 'tls', 'cert.pem')}"`,
      '[profile web]', `role_arn = arn:aws:iam::${account}:role/WebReader`, `web_identity_token_file = ${join(work, 'token.jwt')}`, 'role_session_name = web-profile',
      '',
    ].join('\n'));
  });
  after(async () => {
    assert.equal(await gw.stop(), 0);
    removeDir(gw.dataDir);
    rmSync(work, { recursive: true, force: true });
  });

  function jwt(claims: Record<string, unknown>): string {
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const head = `${b64({ alg: 'ES256', kid: 'k1', typ: 'JWT' })}.${b64({ iss: ISSUER, aud: AUDIENCE, iat: now, exp: now + 600, ...claims })}`;
    return `${head}.${sign('sha256', Buffer.from(head), { key: oidcKey.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
  }

  const whoami = async (c: CredentialProvider) => (await sts(c).getCallerIdentity()).arn;

  it('IAM: users, groups, keys, policies, simulation round-trip; errors carry code, status and request id', async () => {
    await iam.createGroup('ops');
    await iam.addUserToGroup('ops', 'dev');
    assert.deepEqual((await iam.getGroup('ops')).users.map((u) => u.userName), ['dev']);
    assert.deepEqual((await iam.listGroupsForUser('dev')).map((g) => g.groupName), ['ops']);
    const pol = await iam.createPolicy('ReadUsers', JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iam:GetUser', Resource: '*' }] }));
    assert.equal(pol.arn, `arn:aws:iam::${account}:policy/ReadUsers`);
    await iam.attachPolicy('group', 'ops', pol.arn);
    assert.deepEqual((await iam.listAttachedPolicies('group', 'ops')).map((p) => p.policyArn), [pol.arn]);
    assert.match(await iam.getPolicyDocument(pol.arn, 'v1'), /"iam:GetUser"/);
    const sim = await iam.simulatePrincipalPolicy({ policySourceArn: `arn:aws:iam::${account}:user/dev`, actions: ['iam:GetUser', 'iam:DeleteUser'] });
    assert.deepEqual(sim.map((r) => [r.action, r.decision]), [['iam:GetUser', 'allowed'], ['iam:DeleteUser', 'implicitDeny']]);
    const role = await iam.getRole('Deployer');
    assert.equal(role.maxSessionDuration, 3600);
    assert.match(role.assumeRolePolicyDocument ?? '', /"sts:ExternalId":"ext-42"/);
    const e = await iam.getUser('ghost').catch((x: unknown) => x);
    assert.ok(e instanceof ServiceError);
    assert.deepEqual([e.awsCode, e.status], ['NoSuchEntity', 404]);
    assert.match(e.requestId ?? '', /^[0-9a-f-]{36}$/);
    await iam.detachPolicy('group', 'ops', pol.arn);
    await iam.removeUserFromGroup('ops', 'dev');
    await iam.deleteGroup('ops');
    await iam.deletePolicy(pol.arn);
    assert.ok(!(await iam.listGroups()).some((g) => g.groupName === 'ops'));
  });

  it('IAM lists follow Marker across pages (more than the default 100 items)', async () => {
    const names = Array.from({ length: 130 }, (_, i) => `bulk-${String(i).padStart(3, '0')}`);
    for (const n of names) await iam.createUser(n, { path: '/bulk/' });
    const listed = await iam.listUsers({ pathPrefix: '/bulk/' });
    assert.deepEqual(listed.map((u) => u.userName).sort(), names);
    const firstPage = await iam.call('ListUsers', { PathPrefix: '/bulk/' });
    assert.equal(firstPage.children.find((c) => c.name === 'IsTruncated')?.text, 'true', 'the gateway does page at 100');
  });

  it('environment variables', async () => {
    const c = chainFor(envFor({ AWS_ACCESS_KEY_ID: dev.accessKeyId, AWS_SECRET_ACCESS_KEY: dev.secretAccessKey }));
    assert.equal(await whoami(c), `arn:aws:iam::${account}:user/dev`);
    assert.equal((await c()).source, 'env');
  });

  it('a shared credentials profile (by AWS_PROFILE and by name)', async () => {
    assert.equal(await whoami(chainFor(envFor({ AWS_PROFILE: 'admin' }))), `arn:aws:iam::${account}:user/admin`);
    assert.equal(await whoami(chainFor(envFor(), undefined, 'dev')), `arn:aws:iam::${account}:user/dev`);
  });

  it('an assume-role profile: source_profile, external_id, duration_seconds, role_session_name', async () => {
    const c = chainFor(envFor({ AWS_PROFILE: 'deployer' }));
    const creds = await c();
    assert.match(creds.accessKeyId, /^ASIA/);
    assert.ok(creds.sessionToken);
    const lifetime = creds.expiration! - Date.now();
    assert.ok(lifetime > 880_000 && lifetime <= 900_000, `duration_seconds = 900 gave ${lifetime} ms`);
    assert.equal(await whoami(c), `arn:aws:sts::${account}:assumed-role/Deployer/ci-run-7`);
    // The role may read, not write.
    const asRole = new IamClient({ endpoint: gw.url, agent, credentials: c });
    assert.ok((await asRole.listUsers()).length >= 2);
    const denied = await asRole.createUser('nope').catch((x: unknown) => x);
    assert.ok(denied instanceof ServiceError && denied.awsCode === 'AccessDenied' && denied.status === 403);
  });

  it('an assume-role profile with the wrong external id fails, saying AssumeRole was refused, and does not fall through', async () => {
    const e = await chainFor(envFor({ AWS_ACCESS_KEY_ID: gw.admin.accessKeyId, AWS_SECRET_ACCESS_KEY: gw.admin.secretAccessKey }), undefined, 'wrong-external-id')().catch((x: unknown) => x);
    assert.ok(e instanceof CredentialsInvalid, String(e));
    assert.match(e.message, /AssumeRole of arn:aws:iam::\d{12}:role\/Deployer was refused: AccessDenied/);
    assert.ok(!e.message.includes(dev.secretAccessKey));
  });

  it('credential_source = Environment assumes the role with the environment keys', async () => {
    const c = chainFor(envFor({ AWS_PROFILE: 'from-env', AWS_ACCESS_KEY_ID: dev.accessKeyId, AWS_SECRET_ACCESS_KEY: dev.secretAccessKey }));
    assert.match(await whoami(c), new RegExp(`^arn:aws:sts::${account}:assumed-role/Deployer/portcullis-\\d+$`));
  });

  it('credential_process: a real helper that fetches a session token', async () => {
    const c = chainFor(envFor({ AWS_PROFILE: 'process', DEV_ID: dev.accessKeyId, DEV_SECRET: dev.secretAccessKey }));
    const creds = await c();
    assert.equal(creds.source, 'process');
    assert.match(creds.accessKeyId, /^ASIA/);
    assert.ok(creds.expiration! > Date.now());
    assert.equal(await whoami(c), `arn:aws:iam::${account}:user/dev`);
  });

  it('a web identity token file: from AWS_WEB_IDENTITY_TOKEN_FILE and from a profile', async () => {
    const fromEnvVars = chainFor({ HOME: work, AWS_CONFIG_FILE: join(work, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(work, 'none'), AWS_WEB_IDENTITY_TOKEN_FILE: join(work, 'token.jwt'), AWS_ROLE_ARN: `arn:aws:iam::${account}:role/WebReader`, AWS_ROLE_SESSION_NAME: 'pod-1' });
    assert.equal(await whoami(fromEnvVars), `arn:aws:sts::${account}:assumed-role/WebReader/pod-1`);
    assert.equal((await fromEnvVars()).source, 'web-identity');
    assert.equal(await whoami(chainFor(envFor({ AWS_PROFILE: 'web' }))), `arn:aws:sts::${account}:assumed-role/WebReader/web-profile`);
    // A token for another audience is refused by STS, and the chain says so.
    writeFileSync(join(work, 'bad.jwt'), jwt({ sub: 'svc-1', aud: 'someone-else' }));
    const e = await chainFor({ HOME: work, AWS_CONFIG_FILE: join(work, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(work, 'none'), AWS_WEB_IDENTITY_TOKEN_FILE: join(work, 'bad.jwt'), AWS_ROLE_ARN: `arn:aws:iam::${account}:role/WebReader` })().catch((x: unknown) => x);
    assert.ok(e instanceof CredentialsInvalid);
    assert.match(e.message, /InvalidIdentityToken/);
  });

  it('expiring role credentials are refreshed ahead of expiry, once for concurrent callers', async () => {
    const clock = fixedClock(Date.now());
    const c = chainFor(envFor({ AWS_PROFILE: 'deployer' }), clock);
    const first = await c();
    assert.equal((await c()).accessKeyId, first.accessKeyId, 'kept while fresh');
    clock.advance(9 * 60_000); // 6 of 15 minutes left: kept
    assert.equal((await c()).accessKeyId, first.accessKeyId);
    clock.advance(90_000); // 4.5 minutes left: inside the 5-minute window
    const all = await Promise.all(Array.from({ length: 8 }, () => c()));
    const ids = new Set(all.map((x: Credentials) => x.accessKeyId));
    assert.equal(ids.size, 1, 'one refresh shared by all');
    assert.notEqual([...ids][0], first.accessKeyId, 'new credentials');
    assert.equal(await whoami(c), `arn:aws:sts::${account}:assumed-role/Deployer/ci-run-7`);
  });
});
