/**
 * Groups, roles and tags through the AWS SDK for JavaScript v3, and the condition keys IAM
 * defines for its own actions: aws:PrincipalTag, iam:ResourceTag, aws:RequestTag/aws:TagKeys,
 * iam:PolicyARN, iam:PermissionsBoundary.
 */
import assert from 'node:assert/strict';
import { Agent } from 'node:https';
import { after, before, describe, it } from 'node:test';
import {
  AddUserToGroupCommand, AttachGroupPolicyCommand, AttachUserPolicyCommand, CreateAccessKeyCommand, CreateGroupCommand,
  CreateRoleCommand, CreateUserCommand, DeleteGroupCommand, DeleteRoleCommand, GetGroupCommand, GetRoleCommand, GetUserCommand,
  IAMClient, IAMServiceException, ListGroupsForUserCommand, ListRolesCommand, ListRoleTagsCommand, ListUserTagsCommand,
  PutRolePolicyCommand, PutUserPolicyCommand, RemoveUserFromGroupCommand, TagUserCommand, UpdateRoleCommand,
} from '@aws-sdk/client-iam';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { removeDir, startGateway, type RunningGateway } from '../helpers/gateway.js';

type Creds = { accessKeyId: string; secretAccessKey: string };
const doc = (statements: object[]) => JSON.stringify({ Version: '2012-10-17', Statement: statements });

async function failure(p: Promise<unknown>): Promise<{ name: string; message: string }> {
  try {
    await p;
  } catch (e) {
    return { name: (e as IAMServiceException).name, message: (e as Error).message };
  }
  assert.fail('the call succeeded');
}

describe('IAM groups, roles, tags and IAM condition keys', () => {
  let gw: RunningGateway;
  let admin: IAMClient;
  const client = (c: Creds) => new IAMClient({ endpoint: gw.url, region: 'us-east-1', credentials: c, maxAttempts: 1, requestHandler: new NodeHttpHandler({ httpsAgent: new Agent({ ca: gw.caPem }) }) });
  const newUser = async (name: string, tags?: Array<{ Key: string; Value: string }>): Promise<IAMClient> => {
    await admin.send(new CreateUserCommand({ UserName: name, ...(tags ? { Tags: tags } : {}) }));
    const k = (await admin.send(new CreateAccessKeyCommand({ UserName: name }))).AccessKey!;
    return client({ accessKeyId: k.AccessKeyId!, secretAccessKey: k.SecretAccessKey! });
  };
  before(async () => {
    gw = await startGateway();
    admin = client(gw.admin);
  });
  after(async () => {
    assert.equal(await gw.stop(), 0);
    removeDir(gw.dataDir);
  });

  it('a group policy applies to its members, and stops when they leave', async () => {
    const erin = await newUser('erin');
    await admin.send(new CreateGroupCommand({ GroupName: 'Readers', Path: '/ops/' }));
    await admin.send(new AttachGroupPolicyCommand({ GroupName: 'Readers', PolicyArn: 'arn:aws:iam::aws:policy/ReadOnlyAccess' }));
    assert.equal((await failure(erin.send(new GetUserCommand({})))).name, 'AccessDenied');
    await admin.send(new AddUserToGroupCommand({ GroupName: 'Readers', UserName: 'erin' }));
    assert.equal((await erin.send(new GetUserCommand({}))).User?.UserName, 'erin');
    const g = await admin.send(new GetGroupCommand({ GroupName: 'Readers' }));
    assert.match(g.Group!.Arn!, /:group\/ops\/Readers$/);
    assert.deepEqual(g.Users?.map((u) => u.UserName), ['erin']);
    assert.deepEqual((await admin.send(new ListGroupsForUserCommand({ UserName: 'erin' }))).Groups?.map((x) => x.GroupName), ['Readers']);
    assert.equal((await failure(admin.send(new DeleteGroupCommand({ GroupName: 'Readers' })))).name, 'DeleteConflictException');
    await admin.send(new RemoveUserFromGroupCommand({ GroupName: 'Readers', UserName: 'erin' }));
    assert.equal((await failure(erin.send(new GetUserCommand({})))).name, 'AccessDenied');
  });

  it('roles keep their trust policy, session limit and tags', async () => {
    const trust = doc([{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::123456789012:root' }, Action: 'sts:AssumeRole' }]);
    const created = await admin.send(new CreateRoleCommand({ RoleName: 'Deployer', AssumeRolePolicyDocument: trust, MaxSessionDuration: 7200, Tags: [{ Key: 'team', Value: 'blue' }] }));
    assert.match(created.Role!.RoleId!, /^AROA[A-Z2-7]{17}$/);
    const got = await admin.send(new GetRoleCommand({ RoleName: 'Deployer' }));
    assert.equal(decodeURIComponent(got.Role!.AssumeRolePolicyDocument!), trust);
    assert.equal(got.Role!.MaxSessionDuration, 7200);
    assert.deepEqual((await admin.send(new ListRoleTagsCommand({ RoleName: 'Deployer' }))).Tags, [{ Key: 'team', Value: 'blue' }]);
    assert.equal((await failure(admin.send(new UpdateRoleCommand({ RoleName: 'Deployer', MaxSessionDuration: 50000 })))).name, 'ValidationError');
    assert.equal((await failure(admin.send(new CreateRoleCommand({ RoleName: 'Bad', AssumeRolePolicyDocument: doc([{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: '*' }]) })))).name, 'MalformedPolicyDocumentException');
    await admin.send(new PutRolePolicyCommand({ RoleName: 'Deployer', PolicyName: 'p', PolicyDocument: doc([{ Effect: 'Allow', Action: 's3:*', Resource: '*' }]) }));
    assert.equal((await failure(admin.send(new DeleteRoleCommand({ RoleName: 'Deployer' })))).name, 'DeleteConflictException');
    assert.ok((await admin.send(new ListRolesCommand({}))).Roles?.some((r) => r.RoleName === 'Deployer'));
  });

  it('aws:PrincipalTag and iam:ResourceTag decide', async () => {
    const frank = await newUser('frank', [{ Key: 'team', Value: 'blue' }]);
    await admin.send(new CreateUserCommand({ UserName: 'blue-member', Tags: [{ Key: 'team', Value: 'blue' }] }));
    await admin.send(new CreateUserCommand({ UserName: 'red-member', Tags: [{ Key: 'team', Value: 'red' }] }));
    await admin.send(new PutUserPolicyCommand({
      UserName: 'frank',
      PolicyName: 'SameTeam',
      PolicyDocument: doc([{ Effect: 'Allow', Action: 'iam:GetUser', Resource: '*', Condition: { StringEquals: { 'iam:ResourceTag/team': '${aws:PrincipalTag/team}' } } }]),
    }));
    assert.equal((await frank.send(new GetUserCommand({ UserName: 'blue-member' }))).User?.UserName, 'blue-member');
    assert.equal((await failure(frank.send(new GetUserCommand({ UserName: 'red-member' })))).name, 'AccessDenied');
    // The principal's own tag changes, and so does what it may do.
    await admin.send(new TagUserCommand({ UserName: 'frank', Tags: [{ Key: 'team', Value: 'red' }] }));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal((await frank.send(new GetUserCommand({ UserName: 'red-member' }))).User?.UserName, 'red-member');
    assert.deepEqual((await admin.send(new ListUserTagsCommand({ UserName: 'frank' }))).Tags, [{ Key: 'team', Value: 'red' }]);
  });

  it('aws:RequestTag, aws:TagKeys, iam:PolicyARN and iam:PermissionsBoundary decide', async () => {
    const gina = await newUser('gina');
    await admin.send(new PutUserPolicyCommand({
      UserName: 'gina',
      PolicyName: 'Delegated',
      PolicyDocument: doc([
        { Effect: 'Allow', Action: 'iam:CreateUser', Resource: '*', Condition: { StringEquals: { 'aws:RequestTag/cost-center': '42' }, 'ForAllValues:StringEquals': { 'aws:TagKeys': ['cost-center'] }, StringEqualsIfExists: { 'iam:PermissionsBoundary': 'arn:aws:iam::aws:policy/ReadOnlyAccess' } } },
        { Effect: 'Allow', Action: 'iam:AttachUserPolicy', Resource: '*', Condition: { ArnEquals: { 'iam:PolicyARN': 'arn:aws:iam::aws:policy/ReadOnlyAccess' } } },
      ]),
    }));
    await gina.send(new CreateUserCommand({ UserName: 'tagged', Tags: [{ Key: 'cost-center', Value: '42' }] }));
    assert.equal((await failure(gina.send(new CreateUserCommand({ UserName: 'untagged' })))).name, 'AccessDenied');
    assert.equal((await failure(gina.send(new CreateUserCommand({ UserName: 'extra', Tags: [{ Key: 'cost-center', Value: '42' }, { Key: 'owner', Value: 'x' }] })))).name, 'AccessDenied');
    assert.equal((await failure(gina.send(new CreateUserCommand({ UserName: 'unbounded', Tags: [{ Key: 'cost-center', Value: '42' }], PermissionsBoundary: 'arn:aws:iam::aws:policy/AdministratorAccess' })))).name, 'AccessDenied');
    await gina.send(new CreateUserCommand({ UserName: 'bounded', Tags: [{ Key: 'cost-center', Value: '42' }], PermissionsBoundary: 'arn:aws:iam::aws:policy/ReadOnlyAccess' }));
    await gina.send(new AttachUserPolicyCommand({ UserName: 'tagged', PolicyArn: 'arn:aws:iam::aws:policy/ReadOnlyAccess' }));
    assert.equal((await failure(gina.send(new AttachUserPolicyCommand({ UserName: 'tagged', PolicyArn: 'arn:aws:iam::aws:policy/AdministratorAccess' })))).name, 'AccessDenied');
  });
});
