/**
 * Whole IAM workflows with real clients against a running gateway: the AWS SDK for JavaScript v3
 * and the AWS CLI create a user, a key and a policy; the user's allowed calls succeed and the
 * denied ones get AccessDenied; a deactivated key is refused at once; a policy on
 * portcullis:TlsVersion tells TLS 1.2 from TLS 1.3.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import {
  AttachUserPolicyCommand, CreateAccessKeyCommand, CreatePolicyCommand, CreatePolicyVersionCommand, CreateUserCommand,
  DeleteAccessKeyCommand, DeleteUserCommand, GetAccessKeyLastUsedCommand, GetPolicyVersionCommand, GetUserCommand,
  GetUserPolicyCommand, IAMClient, IAMServiceException, ListAccessKeysCommand, ListAttachedUserPoliciesCommand,
  ListPoliciesCommand, ListUsersCommand, PutUserPermissionsBoundaryCommand, PutUserPolicyCommand, UpdateAccessKeyCommand,
} from '@aws-sdk/client-iam';
import { GetAccessKeyInfoCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { removeDir, startGateway, type RunningGateway } from '../helpers/gateway.js';

const run = promisify(execFile);
type Creds = { accessKeyId: string; secretAccessKey: string };

function handler(gw: RunningGateway, maxVersion: 'TLSv1.2' | 'TLSv1.3' = 'TLSv1.3') {
  return new NodeHttpHandler({ httpsAgent: new Agent({ ca: gw.caPem, maxVersion }) });
}

function iam(gw: RunningGateway, credentials: Creds, maxVersion?: 'TLSv1.2' | 'TLSv1.3'): IAMClient {
  return new IAMClient({ endpoint: gw.url, region: 'us-east-1', credentials, maxAttempts: 1, requestHandler: handler(gw, maxVersion) });
}

function sts(gw: RunningGateway, credentials: Creds, maxVersion?: 'TLSv1.2' | 'TLSv1.3'): STSClient {
  return new STSClient({ endpoint: gw.url, region: 'us-east-1', credentials, maxAttempts: 1, requestHandler: handler(gw, maxVersion) });
}

async function failure(p: Promise<unknown>): Promise<{ name: string; status: number | undefined; message: string }> {
  try {
    await p;
  } catch (e) {
    const err = e as IAMServiceException;
    return { name: err.name, status: err.$metadata?.httpStatusCode, message: err.message };
  }
  assert.fail('the call succeeded');
}

const doc = (statements: object[]) => JSON.stringify({ Version: '2012-10-17', Statement: statements });

describe('IAM workflows with real clients', () => {
  let gw: RunningGateway;
  let admin: IAMClient;
  let account: string;
  before(async () => {
    gw = await startGateway();
    admin = iam(gw, gw.admin);
    account = (await sts(gw, gw.admin).send(new GetCallerIdentityCommand({}))).Account!;
  });
  after(async () => {
    assert.equal(await gw.stop(), 0);
    removeDir(gw.dataDir);
  });

  it('the administrator has AdministratorAccess and the AWS-managed policies exist', async () => {
    const attached = await admin.send(new ListAttachedUserPoliciesCommand({ UserName: 'admin' }));
    assert.deepEqual(attached.AttachedPolicies?.map((p) => p.PolicyArn), ['arn:aws:iam::aws:policy/AdministratorAccess']);
    const aws = await admin.send(new ListPoliciesCommand({ Scope: 'AWS' }));
    assert.deepEqual(aws.Policies?.map((p) => p.PolicyName).sort(), ['AdministratorAccess', 'ReadOnlyAccess']);
  });

  it('SDK: create a user, a key and a policy; allowed calls succeed, others are AccessDenied', async () => {
    await admin.send(new CreateUserCommand({ UserName: 'alice', Path: '/team/' }));
    const key = (await admin.send(new CreateAccessKeyCommand({ UserName: 'alice' }))).AccessKey!;
    assert.match(key.AccessKeyId!, /^AKIA[A-Z2-7]{16}$/);
    assert.equal(key.SecretAccessKey!.length, 40);
    const alice = { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };

    // Before any policy: authenticated, but nothing is allowed (GetCallerIdentity needs no permission).
    const me = await sts(gw, alice).send(new GetCallerIdentityCommand({}));
    assert.equal(me.Arn, `arn:aws:iam::${account}:user/team/alice`);
    const denied = await failure(iam(gw, alice).send(new GetUserCommand({})));
    assert.equal(denied.name, 'AccessDenied');
    assert.equal(denied.status, 403);
    assert.match(denied.message, new RegExp(`User: arn:aws:iam::${account}:user/team/alice is not authorized to perform: iam:GetUser on resource: arn:aws:iam::${account}:user/team/alice because no identity-based policy allows the iam:GetUser action`));

    const policy = (await admin.send(new CreatePolicyCommand({
      PolicyName: 'SelfService',
      PolicyDocument: doc([
        { Effect: 'Allow', Action: ['iam:GetUser', 'iam:ListAccessKeys'], Resource: 'arn:aws:iam::*:user/${aws:username}' },
        { Effect: 'Allow', Action: 'iam:GetUser', Resource: `arn:aws:iam::${account}:user/team/*` },
        { Effect: 'Deny', Action: 'iam:GetUser', Resource: `arn:aws:iam::${account}:user/team/mallory` },
      ]),
    }))).Policy!;
    assert.equal(policy.Arn, `arn:aws:iam::${account}:policy/SelfService`);
    await admin.send(new AttachUserPolicyCommand({ UserName: 'alice', PolicyArn: policy.Arn }));

    const got = await iam(gw, alice).send(new GetUserCommand({}));
    assert.equal(got.User?.UserName, 'alice');
    await admin.send(new CreateUserCommand({ UserName: 'mallory', Path: '/team/' }));
    const explicit = await failure(iam(gw, alice).send(new GetUserCommand({ UserName: 'mallory' })));
    assert.equal(explicit.name, 'AccessDenied');
    assert.match(explicit.message, /with an explicit deny in an identity-based policy/);
    assert.equal((await failure(iam(gw, alice).send(new ListUsersCommand({})))).name, 'AccessDenied');
    assert.equal((await failure(iam(gw, alice).send(new CreateUserCommand({ UserName: 'eve' })))).name, 'AccessDenied');
    assert.equal((await failure(sts(gw, alice).send(new GetAccessKeyInfoCommand({ AccessKeyId: key.AccessKeyId! })))).name, 'AccessDenied');

    // A new default version takes effect on the next request.
    await admin.send(new CreatePolicyVersionCommand({ PolicyArn: policy.Arn, SetAsDefault: true, PolicyDocument: doc([{ Effect: 'Allow', Action: ['iam:GetUser', 'iam:ListUsers'], Resource: '*' }]) }));
    const users = await iam(gw, alice).send(new ListUsersCommand({}));
    assert.deepEqual(users.Users?.map((u) => u.UserName).sort(), ['admin', 'alice', 'mallory']);
    const v2 = await admin.send(new GetPolicyVersionCommand({ PolicyArn: policy.Arn, VersionId: 'v2' }));
    assert.equal(v2.PolicyVersion?.IsDefaultVersion, true);
    assert.match(decodeURIComponent(v2.PolicyVersion!.Document!), /iam:ListUsers/);

    // A boundary only ever takes away.
    await admin.send(new PutUserPermissionsBoundaryCommand({ UserName: 'alice', PermissionsBoundary: 'arn:aws:iam::aws:policy/ReadOnlyAccess' }));
    await iam(gw, alice).send(new ListUsersCommand({}));
    await admin.send(new PutUserPolicyCommand({ UserName: 'alice', PolicyName: 'MakeUsers', PolicyDocument: doc([{ Effect: 'Allow', Action: 'iam:CreateUser', Resource: '*' }]) }));
    const bounded = await failure(iam(gw, alice).send(new CreateUserCommand({ UserName: 'eve' })));
    assert.equal(bounded.name, 'AccessDenied');
    assert.match(bounded.message, /because no permissions boundary allows the iam:CreateUser action/);
    const inline = await admin.send(new GetUserPolicyCommand({ UserName: 'alice', PolicyName: 'MakeUsers' }));
    assert.match(decodeURIComponent(inline.PolicyDocument!), /iam:CreateUser/);
  });

  it('a deactivated key is refused at once, and last use is reported', async () => {
    await admin.send(new CreateUserCommand({ UserName: 'bob' }));
    const key = (await admin.send(new CreateAccessKeyCommand({ UserName: 'bob' }))).AccessKey!;
    const bob = { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };
    await sts(gw, bob).send(new GetCallerIdentityCommand({}));
    await admin.send(new UpdateAccessKeyCommand({ UserName: 'bob', AccessKeyId: bob.accessKeyId, Status: 'Inactive' }));
    const refused = await failure(sts(gw, bob).send(new GetCallerIdentityCommand({})));
    assert.equal(refused.name, 'InvalidClientTokenId');
    const listed = await admin.send(new ListAccessKeysCommand({ UserName: 'bob' }));
    assert.equal(listed.AccessKeyMetadata?.[0]?.Status, 'Inactive');
    await admin.send(new UpdateAccessKeyCommand({ UserName: 'bob', AccessKeyId: bob.accessKeyId, Status: 'Active' }));
    await sts(gw, bob).send(new GetCallerIdentityCommand({}));
    const last = await admin.send(new GetAccessKeyLastUsedCommand({ AccessKeyId: bob.accessKeyId }));
    assert.equal(last.UserName, 'bob');

    // Quotas and conflicts come back as IAM's errors.
    await admin.send(new CreateAccessKeyCommand({ UserName: 'bob' }));
    const limit = await failure(admin.send(new CreateAccessKeyCommand({ UserName: 'bob' })));
    assert.equal(limit.name, 'LimitExceededException');
    assert.equal(limit.status, 409);
    const conflict = await failure(admin.send(new DeleteUserCommand({ UserName: 'bob' })));
    assert.equal(conflict.name, 'DeleteConflictException');
    const missing = await failure(admin.send(new GetUserCommand({ UserName: 'nobody' })));
    assert.equal(missing.name, 'NoSuchEntityException');
    assert.equal(missing.status, 404);
    const dup = await failure(admin.send(new CreateUserCommand({ UserName: 'BOB' })));
    assert.equal(dup.name, 'EntityAlreadyExistsException');
    const malformed = await failure(admin.send(new PutUserPolicyCommand({ UserName: 'bob', PolicyName: 'x', PolicyDocument: '{"Statement": [{"Effect": "Maybe"}]}' })));
    assert.equal(malformed.name, 'MalformedPolicyDocumentException');
    for (const k of (await admin.send(new ListAccessKeysCommand({ UserName: 'bob' }))).AccessKeyMetadata ?? []) {
      await admin.send(new DeleteAccessKeyCommand({ UserName: 'bob', AccessKeyId: k.AccessKeyId! }));
    }
    await admin.send(new DeleteUserCommand({ UserName: 'bob' }));
  });

  it('a policy on portcullis:TlsVersion denies a TLS 1.2 client and allows a TLS 1.3 one', async () => {
    await admin.send(new CreateUserCommand({ UserName: 'carol' }));
    const key = (await admin.send(new CreateAccessKeyCommand({ UserName: 'carol' }))).AccessKey!;
    const carol = { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };
    await admin.send(new PutUserPolicyCommand({
      UserName: 'carol',
      PolicyName: 'Tls13Only',
      PolicyDocument: doc([
        { Effect: 'Allow', Action: 'iam:GetUser', Resource: '*' },
        { Effect: 'Deny', Action: '*', Resource: '*', Condition: { NumericLessThan: { 'portcullis:TlsVersion': '1.3' } } },
      ]),
    }));
    const ok = await iam(gw, carol, 'TLSv1.3').send(new GetUserCommand({}));
    assert.equal(ok.User?.UserName, 'carol');
    const old = await failure(iam(gw, carol, 'TLSv1.2').send(new GetUserCommand({})));
    assert.equal(old.name, 'AccessDenied');
    assert.match(old.message, /explicit deny/);
  });

  it('AWS CLI: create a user, a key and an inline policy, then act as that user', async () => {
    const env = {
      ...process.env,
      AWS_SHARED_CREDENTIALS_FILE: join(gw.dataDir, 'credentials'),
      AWS_CA_BUNDLE: join(gw.dataDir, 'tls', 'cert.pem'),
      AWS_CONFIG_FILE: '/dev/null',
    };
    for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']) delete (env as Record<string, string | undefined>)[k];
    // The CLI output is JSON of varying shape; each use below checks the fields it reads.
    const aws = async (args: string[], extra: Record<string, string> = {}): Promise<any> =>
      JSON.parse((await run('aws', ['--region', 'us-east-1', '--endpoint-url', gw.url, '--output', 'json', ...args], { env: { ...env, ...extra }, timeout: 60_000 })).stdout || '{}') as any;
    const asAdmin = ['--profile', 'portcullis'];
    const created = await aws([...asAdmin, 'iam', 'create-user', '--user-name', 'dave']) as { User: { Arn: string } };
    assert.equal(created.User.Arn, `arn:aws:iam::${account}:user/dave`);
    const key = (await aws([...asAdmin, 'iam', 'create-access-key', '--user-name', 'dave']) as { AccessKey: { AccessKeyId: string; SecretAccessKey: string } }).AccessKey;
    await aws([...asAdmin, 'iam', 'put-user-policy', '--user-name', 'dave', '--policy-name', 'ListOnly', '--policy-document', doc([{ Effect: 'Allow', Action: 'iam:ListUsers', Resource: '*' }])]);
    const policy = await aws([...asAdmin, 'iam', 'get-user-policy', '--user-name', 'dave', '--policy-name', 'ListOnly']) as { PolicyDocument: { Statement: Array<{ Action: string }> } };
    assert.equal(policy.PolicyDocument.Statement[0]?.Action, 'iam:ListUsers', 'the CLI decodes the URL-encoded document');
    const asDave = { AWS_ACCESS_KEY_ID: key.AccessKeyId, AWS_SECRET_ACCESS_KEY: key.SecretAccessKey };
    const users = await aws(['iam', 'list-users'], asDave) as { Users: Array<{ UserName: string }> };
    assert.ok(users.Users.some((u) => u.UserName === 'dave'));
    const denied = await run('aws', ['--region', 'us-east-1', '--endpoint-url', gw.url, 'iam', 'create-user', '--user-name', 'x'], { env: { ...env, ...asDave }, timeout: 60_000 })
      .then(() => undefined, (e: { stderr: string }) => e);
    assert.ok(denied, 'dave may not create users');
    assert.match(denied.stderr, /AccessDenied/);
  });
});
