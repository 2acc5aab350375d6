/** `portcullis groups list | create | get | delete | add-user | remove-user`. */
import type { Command } from '../command.js';
import { clientContext } from '../context.js';
import { fields } from '../output.js';
import { arg, done } from './iamShared.js';

export const groupCommands: Command[] = [
  {
    path: ['groups', 'list'],
    summary: 'List IAM groups.',
    usage: '',
    client: true,
    examples: ['portcullis groups list'],
    async run(inv) {
      const groups = await clientContext(inv).iam().listGroups();
      return {
        json: groups.map((g) => ({ GroupName: g.groupName, GroupId: g.groupId, Arn: g.arn, Path: g.path, CreateDate: g.createDate })),
        table: { columns: ['NAME', 'ID', 'ARN', 'CREATED'], rows: groups.map((g) => [g.groupName, g.groupId, g.arn, g.createDate]) },
      };
    },
  },
  {
    path: ['groups', 'create'],
    summary: 'Create an IAM group.',
    usage: 'NAME [--path PATH]',
    client: true,
    options: { path: { type: 'string', value: 'PATH', description: 'default /' } },
    examples: ['portcullis groups create developers'],
    async run(inv) {
      const path = inv.str('path');
      const g = await clientContext(inv).iam().createGroup(arg(inv, 0, 'the group name', 'groups create'), path ? { path } : {});
      return { json: { GroupName: g.groupName, GroupId: g.groupId, Arn: g.arn }, table: fields([['GroupName', g.groupName], ['GroupId', g.groupId], ['Arn', g.arn]]) };
    },
  },
  {
    path: ['groups', 'get'],
    summary: 'Show a group, its members and its policies.',
    usage: 'NAME',
    client: true,
    examples: ['portcullis groups get developers --output json'],
    async run(inv) {
      const iam = clientContext(inv).iam();
      const name = arg(inv, 0, 'the group name', 'groups get');
      const [{ group, users }, attached, inline] = await Promise.all([iam.getGroup(name), iam.listAttachedPolicies('group', name), iam.listInlinePolicies('group', name)]);
      return {
        json: { GroupName: group.groupName, GroupId: group.groupId, Arn: group.arn, Users: users.map((u) => u.userName), AttachedPolicies: attached.map((p) => p.policyArn), InlinePolicies: inline },
        table: fields([['GroupName', group.groupName], ['Arn', group.arn], ['Users', users.map((u) => u.userName).join(', ') || '-'], ['AttachedPolicies', attached.map((p) => p.policyName).join(', ') || '-'], ['InlinePolicies', inline.join(', ') || '-']]),
      };
    },
  },
  {
    path: ['groups', 'delete'],
    summary: 'Delete a group; with --force, first remove its members and policies.',
    usage: 'NAME [--force]',
    client: true,
    options: { force: { type: 'boolean', description: 'remove members and policies first (shows progress)' } },
    examples: ['portcullis groups delete developers --force'],
    async run(inv) {
      const iam = clientContext(inv).iam();
      const name = arg(inv, 0, 'the group name', 'groups delete');
      if (inv.bool('force')) {
        const [{ users }, attached, inline] = await Promise.all([iam.getGroup(name), iam.listAttachedPolicies('group', name), iam.listInlinePolicies('group', name)]);
        const total = users.length + attached.length + inline.length + 1;
        let n = 0;
        for (const u of users) {
          inv.progress(`[${++n}/${total}] removing ${u.userName}`);
          await iam.removeUserFromGroup(name, u.userName);
        }
        for (const p of attached) {
          inv.progress(`[${++n}/${total}] detaching ${p.policyArn}`);
          await iam.detachPolicy('group', name, p.policyArn);
        }
        for (const p of inline) {
          inv.progress(`[${++n}/${total}] deleting inline policy ${p}`);
          await iam.deleteInlinePolicy('group', name, p);
        }
        inv.progress(`[${total}/${total}] deleting group ${name}`);
      }
      await iam.deleteGroup(name);
      return done(`deleted group ${name}`, { GroupName: name, Deleted: true });
    },
  },
  {
    path: ['groups', 'add-user'],
    summary: 'Add a user to a group.',
    usage: 'GROUP USER',
    client: true,
    examples: ['portcullis groups add-user developers alice'],
    async run(inv) {
      const group = arg(inv, 0, 'the group name', 'groups add-user');
      const user = arg(inv, 1, 'the user name', 'groups add-user');
      await clientContext(inv).iam().addUserToGroup(group, user);
      return done(`added ${user} to ${group}`, { GroupName: group, UserName: user });
    },
  },
  {
    path: ['groups', 'remove-user'],
    summary: 'Remove a user from a group.',
    usage: 'GROUP USER',
    client: true,
    examples: ['portcullis groups remove-user developers alice'],
    async run(inv) {
      const group = arg(inv, 0, 'the group name', 'groups remove-user');
      const user = arg(inv, 1, 'the user name', 'groups remove-user');
      await clientContext(inv).iam().removeUserFromGroup(group, user);
      return done(`removed ${user} from ${group}`, { GroupName: group, UserName: user });
    },
  },
];
