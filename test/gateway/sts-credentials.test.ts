/**
 * Temporary credentials end to end: AssumeRole and GetSessionToken through the AWS CLI and the
 * AWS SDK for JavaScript v3, and the credentials they return used for allowed and denied calls.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { AttachRolePolicyCommand, CreateRoleCommand, CreateUserCommand, DeleteRoleCommand, DeleteRolePolicyCommand, GetUserCommand, IAMClient, ListUsersCommand, PutRolePolicyCommand } from '@aws-sdk/client-iam';
import { AssumeRoleCommand, DecodeAuthorizationMessageCommand, GetCallerIdentityCommand, GetFederationTokenCommand, GetSessionTokenCommand, STSClient, type Credentials } from '@aws-sdk/client-sts';
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { removeDir, startGateway, type RunningGateway } from '../helpers/gateway.js';

const run = promisify(execFile);
type Creds = { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
const doc = (statements: object[]) => JSON.stringify({ Version: '2012-10-17', Statement: statements });

async function failure(p: Promise<unknown>): Promise<{ name: string; message: string; status: number | undefined }> {
  try {
    await p;
  } catch (e) {
    const err = e as Error & { $metadata?: { httpStatusCode?: number } };
    return { name: err.name, message: err.message, status: err.$metadata?.httpStatusCode };
  }
  assert.fail('the call succeeded');
}

const asCreds = (c: Credentials | undefined): Creds => ({ accessKeyId: c!.AccessKeyId!, secretAccessKey: c!.SecretAccessKey!, sessionToken: c!.SessionToken! });

describe('temporary credentials', () => {
  let gw: RunningGateway;
  let account: string;
  const handler = () => new NodeHttpHandler({ httpsAgent: new Agent({ ca: gw.caPem }) });
  const sts = (c: Creds) => new STSClient({ endpoint: gw.url, region: 'us-east-1', credentials: c, maxAttempts: 1, requestHandler: handler() });
  const iam = (c: Creds) => new IAMClient({ endpoint: gw.url, region: 'us-east-1', credentials: c, maxAttempts: 1, requestHandler: handler() });
  const roleArn = (name: string) => `arn:aws:iam::${account}:role/${name}`;

  before(async () => {
    gw = await startGateway();
    account = (await sts(gw.admin).send(new GetCallerIdentityCommand({}))).Account!;
    const admin = iam(gw.admin);
    const trustAccount = doc([{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: 'sts:AssumeRole' }]);
    await admin.send(new CreateRoleCommand({ RoleName: 'Reader', AssumeRolePolicyDocument: trustAccount, MaxSessionDuration: 7200 }));
    await admin.send(new AttachRolePolicyCommand({ RoleName: 'Reader', PolicyArn: 'arn:aws:iam::aws:policy/ReadOnlyAccess' }));
    await admin.send(new CreateRoleCommand({ RoleName: 'Locked', AssumeRolePolicyDocument: doc([{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'sts:AssumeRole' }]) }));
    await admin.send(new CreateRoleCommand({
      RoleName: 'Partner',
      AssumeRolePolicyDocument: doc([{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: 'sts:AssumeRole', Condition: { StringEquals: { 'sts:ExternalId': 'the-42' } } }]),
    }));
    await admin.send(new PutRolePolicyCommand({ RoleName: 'Partner', PolicyName: 'chain', PolicyDocument: doc([{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: '*' }]) }));
  });
  after(async () => {
    assert.equal(await gw.stop(), 0);
    removeDir(gw.dataDir);
  });

  it('AWS CLI: assume-role, then the credentials call get-caller-identity and allowed and denied actions', async () => {
    const env: Record<string, string | undefined> = { ...process.env, AWS_SHARED_CREDENTIALS_FILE: join(gw.dataDir, 'credentials'), AWS_CA_BUNDLE: join(gw.dataDir, 'tls', 'cert.pem'), AWS_CONFIG_FILE: '/dev/null' };
    for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']) delete env[k];
    const cli = (args: string[], extra: Record<string, string> = {}) => run('aws', ['--region', 'us-east-1', '--endpoint-url', gw.url, '--output', 'json', ...args], { env: { ...env, ...extra }, timeout: 60_000 });
    const out = JSON.parse((await cli(['--profile', 'portcullis', 'sts', 'assume-role', '--role-arn', roleArn('Reader'), '--role-session-name', 'cli-session'])).stdout) as {
      Credentials: { AccessKeyId: string; SecretAccessKey: string; SessionToken: string; Expiration: string };
      AssumedRoleUser: { AssumedRoleId: string; Arn: string };
    };
    assert.match(out.Credentials.AccessKeyId, /^ASIA[A-Z2-7]{16}$/);
    assert.equal(out.AssumedRoleUser.Arn, `arn:aws:sts::${account}:assumed-role/Reader/cli-session`);
    assert.match(out.AssumedRoleUser.AssumedRoleId, /^AROA[A-Z2-7]{17}:cli-session$/);
    const expires = Date.parse(out.Credentials.Expiration) - Date.now();
    assert.ok(expires > 3500_000 && expires <= 3600_000, `one hour by default, got ${expires} ms`);

    const session = { AWS_ACCESS_KEY_ID: out.Credentials.AccessKeyId, AWS_SECRET_ACCESS_KEY: out.Credentials.SecretAccessKey, AWS_SESSION_TOKEN: out.Credentials.SessionToken };
    const me = JSON.parse((await cli(['sts', 'get-caller-identity'], session)).stdout) as { Arn: string; UserId: string };
    assert.equal(me.Arn, out.AssumedRoleUser.Arn);
    assert.equal(me.UserId, out.AssumedRoleUser.AssumedRoleId);
    const users = JSON.parse((await cli(['iam', 'list-users'], session)).stdout) as { Users: unknown[] };
    assert.ok(users.Users.length >= 1, 'ReadOnlyAccess lets the role list users');
    const denied = await cli(['iam', 'create-user', '--user-name', 'nope'], session).then(() => undefined, (e: { stderr: string }) => e);
    assert.ok(denied);
    assert.match(denied.stderr, /AccessDenied/);
    assert.match(denied.stderr, /assumed-role\/Reader\/cli-session is not authorized to perform: iam:CreateUser/);

    // A token changed by one character is refused.
    const t = out.Credentials.SessionToken;
    const tampered = t.slice(0, -5) + (t.at(-5) === 'A' ? 'B' : 'A') + t.slice(-4);
    const bad = await cli(['sts', 'get-caller-identity'], { ...session, AWS_SESSION_TOKEN: tampered }).then(() => undefined, (e: { stderr: string }) => e);
    assert.ok(bad);
    assert.match(bad.stderr, /InvalidClientTokenId/);
  });

  it('SDK: the trust policy decides, with its conditions', async () => {
    const admin = sts(gw.admin);
    const locked = await failure(admin.send(new AssumeRoleCommand({ RoleArn: roleArn('Locked'), RoleSessionName: 'x1' })));
    assert.equal(locked.name, 'AccessDenied');
    assert.equal(locked.status, 403);
    assert.equal((await failure(admin.send(new AssumeRoleCommand({ RoleArn: roleArn('Partner'), RoleSessionName: 'x2', ExternalId: 'wrong' })))).name, 'AccessDenied');
    assert.equal((await failure(admin.send(new AssumeRoleCommand({ RoleArn: roleArn('Partner'), RoleSessionName: 'x3' })))).name, 'AccessDenied');
    const ok = await admin.send(new AssumeRoleCommand({ RoleArn: roleArn('Partner'), RoleSessionName: 'x4', ExternalId: 'the-42' }));
    assert.equal(ok.AssumedRoleUser?.Arn, `arn:aws:sts::${account}:assumed-role/Partner/x4`);
    assert.equal((await failure(admin.send(new AssumeRoleCommand({ RoleArn: roleArn('Nowhere'), RoleSessionName: 'x5' })))).name, 'AccessDenied');
  });

  it('SDK: durations within 900 s and the role maximum; chaining capped at an hour', async () => {
    const admin = sts(gw.admin);
    assert.equal((await failure(admin.send(new AssumeRoleCommand({ RoleArn: roleArn('Reader'), RoleSessionName: 'd1', DurationSeconds: 899 })))).name, 'ValidationError');
    assert.equal((await failure(admin.send(new AssumeRoleCommand({ RoleArn: roleArn('Reader'), RoleSessionName: 'd2', DurationSeconds: 7201 })))).name, 'ValidationError');
    const long = await admin.send(new AssumeRoleCommand({ RoleArn: roleArn('Reader'), RoleSessionName: 'd3', DurationSeconds: 7200 }));
    assert.ok(long.Credentials!.Expiration!.getTime() - Date.now() > 7100_000);
    const partner = asCreds((await admin.send(new AssumeRoleCommand({ RoleArn: roleArn('Partner'), RoleSessionName: 'c1', ExternalId: 'the-42' }))).Credentials);
    const chained = await failure(sts(partner).send(new AssumeRoleCommand({ RoleArn: roleArn('Reader'), RoleSessionName: 'c2', DurationSeconds: 7200 })));
    assert.equal(chained.name, 'ValidationError');
    assert.match(chained.message, /role chaining/);
    const ok = await sts(partner).send(new AssumeRoleCommand({ RoleArn: roleArn('Reader'), RoleSessionName: 'c3' }));
    assert.equal(ok.AssumedRoleUser?.Arn, `arn:aws:sts::${account}:assumed-role/Reader/c3`);
  });

  it('SDK: a session policy narrows the session and never widens it', async () => {
    const admin = sts(gw.admin);
    const narrow = asCreds((await admin.send(new AssumeRoleCommand({
      RoleArn: roleArn('Reader'), RoleSessionName: 'narrow',
      Policy: doc([{ Effect: 'Allow', Action: ['iam:ListUsers', 'iam:CreateUser'], Resource: '*' }]),
    }))).Credentials);
    await iam(narrow).send(new ListUsersCommand({}));
    assert.equal((await failure(iam(narrow).send(new GetUserCommand({ UserName: 'admin' })))).name, 'AccessDenied', 'the role allows it, the session policy does not');
    const widen = await failure(iam(narrow).send(new CreateUserCommand({ UserName: 'widened' })));
    assert.equal(widen.name, 'AccessDenied', 'the session policy allows it, the role does not');
  });

  it('SDK: GetSessionToken for a user, refused from session credentials', async () => {
    const out = await sts(gw.admin).send(new GetSessionTokenCommand({ DurationSeconds: 900 }));
    const session = asCreds(out.Credentials);
    assert.match(session.accessKeyId, /^ASIA/);
    const me = await sts(session).send(new GetCallerIdentityCommand({}));
    assert.match(me.Arn!, /:user\/admin$/);
    assert.equal((await iam(session).send(new GetUserCommand({}))).User?.UserName, 'admin');
    const again = await failure(sts(session).send(new GetSessionTokenCommand({})));
    assert.equal(again.name, 'AccessDenied');
    // Without its token, a temporary key is unknown.
    const bare = await failure(sts({ accessKeyId: session.accessKeyId, secretAccessKey: session.secretAccessKey }).send(new GetCallerIdentityCommand({})));
    assert.equal(bare.name, 'InvalidClientTokenId');
  });

  it('revoking active sessions with a Deny on aws:TokenIssueTime', async () => {
    const admin = sts(gw.admin);
    const before = asCreds((await admin.send(new AssumeRoleCommand({ RoleArn: roleArn('Reader'), RoleSessionName: 'old' }))).Credentials);
    await iam(before).send(new ListUsersCommand({}));
    await new Promise((r) => setTimeout(r, 1100));
    const cutoff = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    await new Promise((r) => setTimeout(r, 1100));
    await iam(gw.admin).send(new PutRolePolicyCommand({
      RoleName: 'Reader', PolicyName: 'AWSRevokeOlderSessions',
      PolicyDocument: doc([{ Effect: 'Deny', Action: '*', Resource: '*', Condition: { DateLessThan: { 'aws:TokenIssueTime': cutoff } } }]),
    }));
    assert.equal((await failure(iam(before).send(new ListUsersCommand({})))).name, 'AccessDenied');
    const after = asCreds((await admin.send(new AssumeRoleCommand({ RoleArn: roleArn('Reader'), RoleSessionName: 'new' }))).Credentials);
    await iam(after).send(new ListUsersCommand({}));
  });

  it('SDK: GetFederationToken gives the permissions of the user narrowed by the session policy, none without one', async () => {
    const admin = sts(gw.admin);
    const fed = await admin.send(new GetFederationTokenCommand({ Name: 'partner-app', DurationSeconds: 900, Policy: doc([{ Effect: 'Allow', Action: 'iam:ListUsers', Resource: '*' }]) }));
    assert.equal(fed.FederatedUser?.Arn, `arn:aws:sts::${account}:federated-user/partner-app`);
    assert.equal(fed.FederatedUser?.FederatedUserId, `${account}:partner-app`);
    const creds = asCreds(fed.Credentials);
    assert.equal((await sts(creds).send(new GetCallerIdentityCommand({}))).Arn, fed.FederatedUser?.Arn);
    await iam(creds).send(new ListUsersCommand({}));
    assert.equal((await failure(iam(creds).send(new GetUserCommand({ UserName: 'admin' })))).name, 'AccessDenied');
    const bare = asCreds((await admin.send(new GetFederationTokenCommand({ Name: 'no-policy' }))).Credentials);
    assert.equal((await failure(iam(bare).send(new ListUsersCommand({})))).name, 'AccessDenied', 'no session policy: no permissions');
    assert.equal((await failure(sts(creds).send(new GetFederationTokenCommand({ Name: 'again' })))).name, 'AccessDenied');
  });

  it('SDK: session tags need sts:TagSession in the trust policy, and become aws:PrincipalTag', async () => {
    const admin = iam(gw.admin);
    const trustNoTags = doc([{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: 'sts:AssumeRole' }]);
    const trustTags = doc([{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: ['sts:AssumeRole', 'sts:TagSession'] }]);
    await admin.send(new CreateRoleCommand({ RoleName: 'NoTags', AssumeRolePolicyDocument: trustNoTags }));
    await admin.send(new CreateRoleCommand({ RoleName: 'Tagged', AssumeRolePolicyDocument: trustTags }));
    await admin.send(new PutRolePolicyCommand({
      RoleName: 'Tagged', PolicyName: 'ByTag',
      PolicyDocument: doc([{ Effect: 'Allow', Action: 'iam:ListUsers', Resource: '*', Condition: { StringEquals: { 'aws:PrincipalTag/project': 'apollo' } } }]),
    }));
    const refused = await failure(sts(gw.admin).send(new AssumeRoleCommand({ RoleArn: roleArn('NoTags'), RoleSessionName: 't1', Tags: [{ Key: 'project', Value: 'apollo' }] })));
    assert.equal(refused.name, 'AccessDenied');
    assert.match(refused.message, /sts:TagSession/);
    const apollo = asCreds((await sts(gw.admin).send(new AssumeRoleCommand({ RoleArn: roleArn('Tagged'), RoleSessionName: 't2', Tags: [{ Key: 'project', Value: 'apollo' }] }))).Credentials);
    await iam(apollo).send(new ListUsersCommand({}));
    const gemini = asCreds((await sts(gw.admin).send(new AssumeRoleCommand({ RoleArn: roleArn('Tagged'), RoleSessionName: 't3', Tags: [{ Key: 'project', Value: 'gemini' }] }))).Credentials);
    assert.equal((await failure(iam(gemini).send(new ListUsersCommand({})))).name, 'AccessDenied');
  });

  it('SDK: AccessDenied carries an encoded message that DecodeAuthorizationMessage opens for those allowed', async () => {
    const narrow = asCreds((await sts(gw.admin).send(new AssumeRoleCommand({ RoleArn: roleArn('Reader'), RoleSessionName: 'dec', Policy: doc([{ Effect: 'Allow', Action: 'iam:ListUsers', Resource: '*' }]) }))).Credentials);
    const denied = await failure(iam(narrow).send(new CreateUserCommand({ UserName: 'zed' })));
    const encoded = /Encoded authorization failure message: (\S+)/.exec(denied.message)?.[1];
    assert.ok(encoded, denied.message);
    const decoded = JSON.parse((await sts(gw.admin).send(new DecodeAuthorizationMessageCommand({ EncodedMessage: encoded }))).DecodedMessage!) as {
      allowed: boolean; context: { action: string; principal: { arn: string }; conditions: { items: Array<{ key: string }> } };
    };
    assert.equal(decoded.allowed, false);
    assert.equal(decoded.context.action, 'iam:CreateUser');
    assert.equal(decoded.context.principal.arn, `arn:aws:sts::${account}:assumed-role/Reader/dec`);
    assert.ok(decoded.context.conditions.items.some((c) => c.key === 'aws:principaltype'));
    assert.equal((await failure(sts(narrow).send(new DecodeAuthorizationMessageCommand({ EncodedMessage: encoded })))).name, 'AccessDenied', 'the session may not decode');
    assert.equal((await failure(sts(gw.admin).send(new DecodeAuthorizationMessageCommand({ EncodedMessage: encoded.slice(0, -4) + 'AAAA' })))).name, 'InvalidAuthorizationMessageException');
  });

  it('SDK fromTemporaryCredentials, and an AWS config profile with role_arn and source_profile in the CLI and boto3', async () => {
    const provider = fromTemporaryCredentials({
      masterCredentials: gw.admin,
      params: { RoleArn: roleArn('Reader'), RoleSessionName: 'provider', DurationSeconds: 900 },
      clientConfig: { endpoint: gw.url, region: 'us-east-1', requestHandler: handler() },
    });
    const viaProvider = new STSClient({ endpoint: gw.url, region: 'us-east-1', credentials: provider, maxAttempts: 1, requestHandler: handler() });
    assert.equal((await viaProvider.send(new GetCallerIdentityCommand({}))).Arn, `arn:aws:sts::${account}:assumed-role/Reader/provider`);

    const dir = mkdtempSync(join(tmpdir(), 'portcullis-profile-'));
    try {
      const config = join(dir, 'config');
      writeFileSync(config, `[profile reader]\nrole_arn = ${roleArn('Reader')}\nsource_profile = portcullis\nrole_session_name = from-profile\nregion = us-east-1\n`);
      const env: Record<string, string | undefined> = { ...process.env, AWS_SHARED_CREDENTIALS_FILE: join(gw.dataDir, 'credentials'), AWS_CA_BUNDLE: join(gw.dataDir, 'tls', 'cert.pem'), AWS_CONFIG_FILE: config, AWS_ENDPOINT_URL: gw.url };
      for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']) delete env[k];
      const cli = JSON.parse((await run('aws', ['--profile', 'reader', '--endpoint-url', gw.url, '--output', 'json', 'sts', 'get-caller-identity'], { env, timeout: 60_000 })).stdout) as { Arn: string };
      assert.equal(cli.Arn, `arn:aws:sts::${account}:assumed-role/Reader/from-profile`);
      const py = `import boto3\ns = boto3.Session(profile_name='reader')\nprint(s.client('sts', endpoint_url='${gw.url}').get_caller_identity()['Arn'])`;
      const boto = (await run(process.env['PORTCULLIS_PYTHON'] || 'python3', ['-c', py], { env, timeout: 60_000 })).stdout.trim();
      assert.equal(boto, `arn:aws:sts::${account}:assumed-role/Reader/from-profile`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the sessions of a deleted role lose its permissions at once, even if a role of the same name comes back', async () => {
    const admin = iam(gw.admin);
    const trust = doc([{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: 'sts:AssumeRole' }]);
    const allowList = doc([{ Effect: 'Allow', Action: 'iam:ListUsers', Resource: '*' }]);
    await admin.send(new CreateRoleCommand({ RoleName: 'Ephemeral', AssumeRolePolicyDocument: trust }));
    await admin.send(new PutRolePolicyCommand({ RoleName: 'Ephemeral', PolicyName: 'list', PolicyDocument: allowList }));
    const old = asCreds((await sts(gw.admin).send(new AssumeRoleCommand({ RoleArn: roleArn('Ephemeral'), RoleSessionName: 'before' }))).Credentials);
    await iam(old).send(new ListUsersCommand({}));
    await admin.send(new DeleteRolePolicyCommand({ RoleName: 'Ephemeral', PolicyName: 'list' }));
    await admin.send(new DeleteRoleCommand({ RoleName: 'Ephemeral' }));
    assert.equal((await failure(iam(old).send(new ListUsersCommand({})))).name, 'AccessDenied');
    await admin.send(new CreateRoleCommand({ RoleName: 'Ephemeral', AssumeRolePolicyDocument: trust }));
    await admin.send(new PutRolePolicyCommand({ RoleName: 'Ephemeral', PolicyName: 'list', PolicyDocument: allowList }));
    assert.equal((await failure(iam(old).send(new ListUsersCommand({})))).name, 'AccessDenied', 'the new role is another role (another id)');
    const fresh = asCreds((await sts(gw.admin).send(new AssumeRoleCommand({ RoleArn: roleArn('Ephemeral'), RoleSessionName: 'after' }))).Credentials);
    await iam(fresh).send(new ListUsersCommand({}));
  });
});
