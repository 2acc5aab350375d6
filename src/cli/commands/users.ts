/** `portcullis users list | create | get | delete`. */
import type { Command } from '../command.js';
import { clientContext } from '../context.js';
import { fields } from '../output.js';
import { arg, done } from './iamShared.js';

export const userCommands: Command[] = [
  {
    path: ['users', 'list'],
    summary: 'List IAM users.',
    usage: '[--path-prefix PREFIX]',
    client: true,
    options: { 'path-prefix': { type: 'string', value: 'PREFIX', description: 'only users under this path' } },
    examples: ['portcullis users list', 'portcullis users list --output json | jq -r ".[].UserName"'],
    async run(inv) {
      const prefix = inv.str('path-prefix');
      const users = await clientContext(inv).iam().listUsers(prefix !== undefined ? { pathPrefix: prefix } : {});
      return {
        json: users.map((u) => ({ UserName: u.userName, UserId: u.userId, Arn: u.arn, Path: u.path, CreateDate: u.createDate })),
        table: { columns: ['NAME', 'ID', 'ARN', 'CREATED'], rows: users.map((u) => [u.userName, u.userId, u.arn, u.createDate]) },
      };
    },
  },
  {
    path: ['users', 'create'],
    summary: 'Create an IAM user.',
    usage: 'NAME [--path PATH] [--permissions-boundary ARN]',
    client: true,
    options: {
      path: { type: 'string', value: 'PATH', description: 'e.g. /engineering/; default /' },
      'permissions-boundary': { type: 'string', value: 'ARN', description: 'a managed policy that caps the user\'s permissions' },
    },
    examples: ['portcullis users create alice', 'portcullis users create ci-bot --path /automation/ --output json'],
    async run(inv) {
      const path = inv.str('path');
      const boundary = inv.str('permissions-boundary');
      const u = await clientContext(inv).iam().createUser(arg(inv, 0, 'the user name', 'users create'), { ...(path ? { path } : {}), ...(boundary ? { permissionsBoundary: boundary } : {}) });
      return { json: { UserName: u.userName, UserId: u.userId, Arn: u.arn, Path: u.path, CreateDate: u.createDate }, table: fields([['UserName', u.userName], ['UserId', u.userId], ['Arn', u.arn], ['Path', u.path], ['CreateDate', u.createDate]]) };
    },
  },
  {
    path: ['users', 'get'],
    summary: 'Show a user with its groups, access keys and policies.',
    usage: 'NAME',
    client: true,
    examples: ['portcullis users get alice'],
    async run(inv) {
      const iam = clientContext(inv).iam();
      const name = arg(inv, 0, 'the user name', 'users get');
      const u = await iam.getUser(name);
      const [groups, keys, attached, inline] = await Promise.all([iam.listGroupsForUser(name), iam.listAccessKeys(name), iam.listAttachedPolicies('user', name), iam.listInlinePolicies('user', name)]);
      const json = {
        UserName: u.userName, UserId: u.userId, Arn: u.arn, Path: u.path, CreateDate: u.createDate,
        Groups: groups.map((g) => g.groupName), AccessKeys: keys.map((k) => ({ AccessKeyId: k.accessKeyId, Status: k.status })),
        AttachedPolicies: attached.map((p) => p.policyArn), InlinePolicies: inline,
      };
      return {
        json,
        table: fields([
          ['UserName', u.userName], ['UserId', u.userId], ['Arn', u.arn], ['CreateDate', u.createDate],
          ['Groups', groups.map((g) => g.groupName).join(', ') || '-'],
          ['AccessKeys', keys.map((k) => `${k.accessKeyId} (${k.status})`).join(', ') || '-'],
          ['AttachedPolicies', attached.map((p) => p.policyName).join(', ') || '-'], ['InlinePolicies', inline.join(', ') || '-'],
        ]),
      };
    },
  },
  {
    path: ['users', 'delete'],
    summary: 'Delete a user; with --force, first remove its access keys, policies and group memberships.',
    usage: 'NAME [--force]',
    client: true,
    options: { force: { type: 'boolean', description: 'remove what IAM requires to be gone first (shows progress)' } },
    examples: ['portcullis users delete alice', 'portcullis users delete ci-bot --force'],
    async run(inv) {
      const iam = clientContext(inv).iam();
      const name = arg(inv, 0, 'the user name', 'users delete');
      if (inv.bool('force')) {
        const [keys, attached, inline, groups] = await Promise.all([iam.listAccessKeys(name), iam.listAttachedPolicies('user', name), iam.listInlinePolicies('user', name), iam.listGroupsForUser(name)]);
        const steps: Array<[string, () => Promise<void>]> = [
          ...keys.map((k): [string, () => Promise<void>] => [`deleting access key ${k.accessKeyId}`, () => iam.deleteAccessKey(k.accessKeyId, name)]),
          ...attached.map((p): [string, () => Promise<void>] => [`detaching ${p.policyArn}`, () => iam.detachPolicy('user', name, p.policyArn)]),
          ...inline.map((p): [string, () => Promise<void>] => [`deleting inline policy ${p}`, () => iam.deleteInlinePolicy('user', name, p)]),
          ...groups.map((g): [string, () => Promise<void>] => [`removing from group ${g.groupName}`, () => iam.removeUserFromGroup(g.groupName, name)]),
        ];
        for (const [i, [what, step]] of steps.entries()) {
          inv.progress(`[${i + 1}/${steps.length + 1}] ${what}`);
          await step();
        }
        inv.progress(`[${steps.length + 1}/${steps.length + 1}] deleting user ${name}`);
      }
      await iam.deleteUser(name);
      return done(`deleted user ${name}`, { UserName: name, Deleted: true });
    },
  },
];
