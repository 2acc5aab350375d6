/**
 * Groups, roles and tags through the AWS SDK for JavaScript v3, and the condition keys IAM
 * defines for its own actions: aws:PrincipalTag, iam:ResourceTag, aws:RequestTag/aws:TagKeys,
 * iam:PolicyARN, iam:PermissionsBoundary.
 */
import assert from 'node:assert/strict';
import { Agent } from 'node:https';
import { after, before, describe, it } from 'node:test';
import {
  AddUserToGroupCommand, AttachGroupPolicyCommand, GetAccountAuthorizationDetailsCommand, AttachUserPolicyCommand, CreateAccessKeyCommand, CreateGroupCommand,
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

describe('GetAccountAuthorizationDetails', () => {
  it('lists users, groups, roles and policies with their policies, paged', async () => {
    const gw = await startGateway();
    try {
      const admin = new IAMClient({ endpoint: gw.url, region: 'us-east-1', credentials: gw.admin, maxAttempts: 1, requestHandler: new NodeHttpHandler({ httpsAgent: new Agent({ ca: gw.caPem }) }) });
      await admin.send(new CreateUserCommand({ UserName: 'hank' }));
      await admin.send(new CreateGroupCommand({ GroupName: 'Ops' }));
      await admin.send(new AddUserToGroupCommand({ GroupName: 'Ops', UserName: 'hank' }));
      await admin.send(new PutUserPolicyCommand({ UserName: 'hank', PolicyName: 'inline', PolicyDocument: doc([{ Effect: 'Allow', Action: 'iam:GetUser', Resource: '*' }]) }));
      await admin.send(new CreateRoleCommand({ RoleName: 'R', AssumeRolePolicyDocument: doc([{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }]) }));
      const all = await admin.send(new GetAccountAuthorizationDetailsCommand({}));
      const hank = all.UserDetailList?.find((u) => u.UserName === 'hank');
      assert.deepEqual(hank?.GroupList, ['Ops']);
      assert.deepEqual(hank?.UserPolicyList?.map((x) => x.PolicyName), ['inline']);
      assert.match(decodeURIComponent(hank!.UserPolicyList![0]!.PolicyDocument!), /iam:GetUser/);
      assert.deepEqual(all.UserDetailList?.find((u) => u.UserName === 'admin')?.AttachedManagedPolicies?.map((x) => x.PolicyName), ['AdministratorAccess']);
      assert.deepEqual(all.GroupDetailList?.map((g) => g.GroupName), ['Ops']);
      assert.deepEqual(all.RoleDetailList?.map((r) => r.RoleName), ['R']);
      assert.ok(all.Policies?.some((x) => x.PolicyName === 'AdministratorAccess' && x.PolicyVersionList?.[0]?.IsDefaultVersion === true));
      const roles = await admin.send(new GetAccountAuthorizationDetailsCommand({ Filter: ['Role'] }));
      assert.deepEqual([roles.UserDetailList?.length ?? 0, roles.RoleDetailList?.length], [0, 1]);
      // Paging: one item at a time visits every item once.
      const seen: string[] = [];
      let marker: string | undefined;
      do {
        const page = await admin.send(new GetAccountAuthorizationDetailsCommand({ MaxItems: 1, ...(marker ? { Marker: marker } : {}) }));
        const items = [...(page.UserDetailList ?? []).map((u) => `u:${u.UserName}`), ...(page.GroupDetailList ?? []).map((g) => `g:${g.GroupName}`), ...(page.RoleDetailList ?? []).map((r) => `r:${r.RoleName}`), ...(page.Policies ?? []).map((x) => `p:${x.PolicyName}`)];
        assert.equal(items.length, 1);
        seen.push(...items);
        marker = page.IsTruncated ? page.Marker : undefined;
      } while (marker);
      assert.deepEqual(seen.sort(), ['g:Ops', 'p:AdministratorAccess', 'p:ReadOnlyAccess', 'r:R', 'u:admin', 'u:hank']);
    } finally {
      assert.equal(await gw.stop(), 0);
      removeDir(gw.dataDir);
    }
  });
});
