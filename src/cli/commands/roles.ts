/** `portcullis roles list | create | get | delete | update-trust`. */
import type { Command } from '../command.js';
import { clientContext, readDocument } from '../context.js';
import { fields } from '../output.js';
import { arg, done } from './iamShared.js';

export const roleCommands: Command[] = [
  {
    path: ['roles', 'list'],
    summary: 'List IAM roles.',
    usage: '',
    client: true,
    examples: ['portcullis roles list'],
    async run(inv) {
      const roles = await clientContext(inv).iam().listRoles();
      return {
        json: roles.map((r) => ({ RoleName: r.roleName, RoleId: r.roleId, Arn: r.arn, Path: r.path, MaxSessionDuration: r.maxSessionDuration, CreateDate: r.createDate })),
        table: { columns: ['NAME', 'ARN', 'MAX SESSION', 'CREATED'], rows: roles.map((r) => [r.roleName, r.arn, r.maxSessionDuration === undefined ? undefined : `${r.maxSessionDuration}s`, r.createDate]) },
      };
    },
  },
  {
    path: ['roles', 'create'],
    summary: 'Create a role with a trust policy.',
    usage: 'NAME --trust-policy JSON|@FILE [--max-session-duration SECONDS] [--description TEXT] [--path PATH]',
    client: true,
    options: {
      'trust-policy': { type: 'string', value: 'JSON|@FILE', description: 'who may assume the role (- reads stdin)' },
      'max-session-duration': { type: 'string', value: 'SECONDS', description: '3600 to 43200; default 3600' },
      description: { type: 'string', value: 'TEXT', description: 'a description' },
      path: { type: 'string', value: 'PATH', description: 'default /' },
    },
    examples: [
      'portcullis roles create Deployer --trust-policy @trust.json --max-session-duration 7200',
      `portcullis roles create Reader --trust-policy '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}'`,
    ],
    async run(inv) {
      const max = inv.str('max-session-duration');
      const description = inv.str('description');
      const path = inv.str('path');
      const r = await clientContext(inv).iam().createRole(arg(inv, 0, 'the role name', 'roles create'), readDocument(inv.need('trust-policy'), inv, '--trust-policy'), {
        ...(max !== undefined ? { maxSessionDuration: Number(max) } : {}), ...(description ? { description } : {}), ...(path ? { path } : {}),
      });
      return { json: { RoleName: r.roleName, RoleId: r.roleId, Arn: r.arn, MaxSessionDuration: r.maxSessionDuration }, table: fields([['RoleName', r.roleName], ['RoleId', r.roleId], ['Arn', r.arn], ['MaxSessionDuration', r.maxSessionDuration]]) };
    },
  },
  {
    path: ['roles', 'get'],
    summary: 'Show a role, its trust policy and its policies.',
    usage: 'NAME',
    client: true,
    examples: ['portcullis roles get Deployer', 'portcullis roles get Deployer --output json | jq .AssumeRolePolicyDocument'],
    async run(inv) {
      const iam = clientContext(inv).iam();
      const name = arg(inv, 0, 'the role name', 'roles get');
      const [r, attached, inline] = await Promise.all([iam.getRole(name), iam.listAttachedPolicies('role', name), iam.listInlinePolicies('role', name)]);
      const trust = r.assumeRolePolicyDocument === undefined ? undefined : (JSON.parse(r.assumeRolePolicyDocument) as unknown);
      return {
        json: { RoleName: r.roleName, RoleId: r.roleId, Arn: r.arn, MaxSessionDuration: r.maxSessionDuration, Description: r.description, AssumeRolePolicyDocument: trust, AttachedPolicies: attached.map((p) => p.policyArn), InlinePolicies: inline },
        table: fields([['RoleName', r.roleName], ['Arn', r.arn], ['MaxSessionDuration', r.maxSessionDuration], ['AttachedPolicies', attached.map((p) => p.policyName).join(', ') || '-'], ['InlinePolicies', inline.join(', ') || '-']]),
        text: `\nTrust policy:\n${JSON.stringify(trust, null, 2)}\n`,
      };
    },
  },
  {
    path: ['roles', 'update-trust'],
    summary: 'Replace a role\'s trust policy.',
    usage: 'NAME --trust-policy JSON|@FILE',
    client: true,
    options: { 'trust-policy': { type: 'string', value: 'JSON|@FILE', description: 'the new trust policy' } },
    examples: ['portcullis roles update-trust Deployer --trust-policy @trust.json'],
    async run(inv) {
      const name = arg(inv, 0, 'the role name', 'roles update-trust');
      await clientContext(inv).iam().updateAssumeRolePolicy(name, readDocument(inv.need('trust-policy'), inv, '--trust-policy'));
      return done(`updated the trust policy of ${name}`, { RoleName: name });
    },
  },
  {
    path: ['roles', 'delete'],
    summary: 'Delete a role; with --force, first detach and delete its policies.',
    usage: 'NAME [--force]',
    client: true,
    options: { force: { type: 'boolean', description: 'remove its policies first (shows progress)' } },
    examples: ['portcullis roles delete Deployer --force'],
    async run(inv) {
      const iam = clientContext(inv).iam();
      const name = arg(inv, 0, 'the role name', 'roles delete');
      if (inv.bool('force')) {
        const [attached, inline] = await Promise.all([iam.listAttachedPolicies('role', name), iam.listInlinePolicies('role', name)]);
        const total = attached.length + inline.length + 1;
        let n = 0;
        for (const p of attached) {
          inv.progress(`[${++n}/${total}] detaching ${p.policyArn}`);
          await iam.detachPolicy('role', name, p.policyArn);
        }
        for (const p of inline) {
          inv.progress(`[${++n}/${total}] deleting inline policy ${p}`);
          await iam.deleteInlinePolicy('role', name, p);
        }
        inv.progress(`[${total}/${total}] deleting role ${name}`);
      }
      await iam.deleteRole(name);
      return done(`deleted role ${name}`, { RoleName: name, Deleted: true });
    },
  },
];
