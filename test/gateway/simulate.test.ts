/**
 * SimulatePrincipalPolicy and SimulateCustomPolicy through real clients: decisions, matched
 * statements and missing context values, as IAM reports them.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import {
  AttachGroupPolicyCommand, CreateGroupCommand, CreatePolicyCommand, CreateRoleCommand, CreateUserCommand, IAMClient, PutGroupPolicyCommand, PutRolePolicyCommand,
  PutUserPolicyCommand, SimulateCustomPolicyCommand, SimulatePrincipalPolicyCommand,
} from '@aws-sdk/client-iam';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { removeDir, startGateway, type RunningGateway } from '../helpers/gateway.js';

const run = promisify(execFile);

describe('policy simulation', () => {
  let gw: RunningGateway;
  let iam: IAMClient;
  let userArn: string;
  before(async () => {
    gw = await startGateway();
    iam = new IAMClient({ endpoint: gw.url, region: 'us-east-1', credentials: gw.admin, maxAttempts: 1, requestHandler: new NodeHttpHandler({ httpsAgent: new Agent({ ca: gw.caPem }) }) });
    userArn = (await iam.send(new CreateUserCommand({ UserName: 'sim' }))).User!.Arn!;
    await iam.send(new PutUserPolicyCommand({
      UserName: 'sim',
      PolicyName: 'SelfInRegion',
      PolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Sid: 'Self', Effect: 'Allow', Action: 'iam:GetUser', Resource: 'arn:aws:iam::*:user/${aws:username}', Condition: { StringEquals: { 'aws:RequestedRegion': 'us-east-1' } } },
          { Sid: 'NeverDelete', Effect: 'Deny', Action: 'iam:DeleteUser', Resource: '*' },
        ],
      }),
    }));
  });
  after(async () => {
    assert.equal(await gw.stop(), 0);
    removeDir(gw.dataDir);
  });

  it('SDK: SimulatePrincipalPolicy gives each action its decision and the statements behind it', async () => {
    const out = await iam.send(new SimulatePrincipalPolicyCommand({
      PolicySourceArn: userArn,
      ActionNames: ['iam:GetUser', 'iam:DeleteUser', 'iam:CreateUser'],
      ResourceArns: [userArn],
      ContextEntries: [
        { ContextKeyName: 'aws:username', ContextKeyValues: ['sim'], ContextKeyType: 'string' },
        { ContextKeyName: 'aws:RequestedRegion', ContextKeyValues: ['us-east-1'], ContextKeyType: 'string' },
      ],
    }));
    const by = new Map(out.EvaluationResults!.map((r) => [r.EvalActionName, r]));
    assert.equal(by.get('iam:GetUser')?.EvalDecision, 'allowed');
    assert.equal(by.get('iam:GetUser')?.EvalResourceName, userArn);
    assert.deepEqual(by.get('iam:GetUser')?.MatchedStatements?.map((m) => [m.SourcePolicyId, m.SourcePolicyType]), [['SelfInRegion', 'user']]);
    assert.deepEqual(by.get('iam:GetUser')?.MissingContextValues ?? [], []);
    assert.equal(by.get('iam:DeleteUser')?.EvalDecision, 'explicitDeny');
    assert.equal(by.get('iam:CreateUser')?.EvalDecision, 'implicitDeny');
    assert.equal(out.IsTruncated, false);
  });

  it('SDK: SimulatePrincipalPolicy takes a role or a group as the source, with their own policies', async () => {
    const doc = (action: string) => JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: action, Resource: '*' }] });
    const trust = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }] });
    const roleArn = (await iam.send(new CreateRoleCommand({ RoleName: 'sim-role', AssumeRolePolicyDocument: trust }))).Role!.Arn!;
    await iam.send(new PutRolePolicyCommand({ RoleName: 'sim-role', PolicyName: 'ReadQueues', PolicyDocument: doc('sqs:Receive*') }));
    const groupArn = (await iam.send(new CreateGroupCommand({ GroupName: 'sim-group' }))).Group!.Arn!;
    await iam.send(new PutGroupPolicyCommand({ GroupName: 'sim-group', PolicyName: 'Inline', PolicyDocument: doc('sns:Publish') }));
    const managed = (await iam.send(new CreatePolicyCommand({ PolicyName: 'SimManaged', PolicyDocument: doc('sqs:Send*') }))).Policy!.Arn!;
    await iam.send(new AttachGroupPolicyCommand({ GroupName: 'sim-group', PolicyArn: managed }));
    const decide = async (source: string, actions: string[]) => {
      const out = await iam.send(new SimulatePrincipalPolicyCommand({ PolicySourceArn: source, ActionNames: actions }));
      return Object.fromEntries(out.EvaluationResults!.map((r) => [r.EvalActionName, [r.EvalDecision, r.MatchedStatements?.map((m) => `${m.SourcePolicyId}/${m.SourcePolicyType}`).join(',') ?? '']]));
    };
    assert.deepEqual(await decide(roleArn, ['sqs:ReceiveMessage', 'sns:Publish']), { 'sqs:ReceiveMessage': ['allowed', 'ReadQueues/role'], 'sns:Publish': ['implicitDeny', ''] });
    assert.deepEqual(await decide(groupArn, ['sns:Publish', 'sqs:SendMessage', 'sqs:ReceiveMessage']), {
      'sns:Publish': ['allowed', 'Inline/group'], 'sqs:SendMessage': ['allowed', 'SimManaged/user-managed'], 'sqs:ReceiveMessage': ['implicitDeny', ''],
    });
    await assert.rejects(iam.send(new SimulatePrincipalPolicyCommand({ PolicySourceArn: roleArn.replace('sim-role', 'nobody'), ActionNames: ['sqs:ReceiveMessage'] })),
      (e: Error) => e.name === 'NoSuchEntityException' && /The role with ARN/.test(e.message));
  });

  it('SDK: keys the policies read but the request did not give are MissingContextValues', async () => {
    const out = await iam.send(new SimulatePrincipalPolicyCommand({ PolicySourceArn: userArn, ActionNames: ['iam:GetUser'], ResourceArns: [userArn] }));
    const r = out.EvaluationResults![0]!;
    assert.equal(r.EvalDecision, 'implicitDeny');
    assert.deepEqual([...(r.MissingContextValues ?? [])].sort(), ['aws:RequestedRegion', 'aws:username']);
  });

  it('SDK: SimulateCustomPolicy with a permissions boundary', async () => {
    const allowAll = JSON.stringify({ Version: '2012-10-17', Statement: { Effect: 'Allow', Action: 's3:*', Resource: '*' } });
    const readOnly = JSON.stringify({ Version: '2012-10-17', Statement: { Effect: 'Allow', Action: 's3:Get*', Resource: '*' } });
    const out = await iam.send(new SimulateCustomPolicyCommand({
      PolicyInputList: [allowAll],
      PermissionsBoundaryPolicyInputList: [readOnly],
      ActionNames: ['s3:GetObject', 's3:PutObject'],
      ResourceArns: ['arn:aws:s3:::bucket/key'],
    }));
    const by = new Map(out.EvaluationResults!.map((r) => [r.EvalActionName, r]));
    assert.equal(by.get('s3:GetObject')?.EvalDecision, 'allowed');
    assert.equal(by.get('s3:PutObject')?.EvalDecision, 'implicitDeny');
    assert.equal(by.get('s3:PutObject')?.PermissionsBoundaryDecisionDetail?.AllowedByPermissionsBoundary, false);
  });

  it('AWS CLI: simulate-principal-policy and simulate-custom-policy', async () => {
    const env = { ...process.env, AWS_SHARED_CREDENTIALS_FILE: join(gw.dataDir, 'credentials'), AWS_CA_BUNDLE: join(gw.dataDir, 'tls', 'cert.pem'), AWS_CONFIG_FILE: '/dev/null' };
    for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']) delete (env as Record<string, string | undefined>)[k];
    const aws = async (args: string[]) => JSON.parse((await run('aws', ['--profile', 'portcullis', '--region', 'us-east-1', '--endpoint-url', gw.url, '--output', 'json', ...args], { env, timeout: 60_000 })).stdout) as {
      EvaluationResults: Array<{ EvalActionName: string; EvalDecision: string; MatchedStatements: Array<{ SourcePolicyId: string }> }>;
    };
    const principal = await aws(['iam', 'simulate-principal-policy', '--policy-source-arn', userArn, '--action-names', 'iam:DeleteUser', 'iam:ListUsers']);
    assert.deepEqual(principal.EvaluationResults.map((r) => [r.EvalActionName, r.EvalDecision]), [['iam:DeleteUser', 'explicitDeny'], ['iam:ListUsers', 'implicitDeny']]);
    assert.equal(principal.EvaluationResults[0]?.MatchedStatements[0]?.SourcePolicyId, 'SelfInRegion');
    const custom = await aws(['iam', 'simulate-custom-policy', '--policy-input-list', JSON.stringify({ Version: '2012-10-17', Statement: { Effect: 'Allow', Action: 'dynamodb:Query', Resource: '*' } }), '--action-names', 'dynamodb:Query', 'dynamodb:Scan']);
    assert.deepEqual(custom.EvaluationResults.map((r) => r.EvalDecision), ['allowed', 'implicitDeny']);
  });
});
