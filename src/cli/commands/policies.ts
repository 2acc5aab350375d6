/** `portcullis policies …` (managed and inline) and `portcullis simulate`. */
import type { ContextEntry } from '../../client/iam.js';
import type { Command, Invocation } from '../command.js';
import { clientContext, readDocument } from '../context.js';
import { EXIT, UsageError } from '../exit.js';
import { fields } from '../output.js';
import { arg, done, target, TARGET_OPTIONS } from './iamShared.js';

const SCOPES = { all: 'All', aws: 'AWS', local: 'Local' } as const;

export const policyCommands: Command[] = [
  {
    path: ['policies', 'list'],
    summary: 'List managed policies.',
    usage: '[--scope local|aws|all] [--attached]',
    client: true,
    options: {
      scope: { type: 'string', value: 'local|aws|all', description: 'local: the account\'s own; aws: AWS-managed; default all' },
      attached: { type: 'boolean', description: 'only policies attached to something' },
    },
    examples: ['portcullis policies list --scope local', 'portcullis policies list --scope aws --output json'],
    async run(inv) {
      const scopeText = (inv.str('scope') ?? 'all').toLowerCase();
      if (!Object.hasOwn(SCOPES, scopeText)) throw new UsageError('--scope must be local, aws or all', 'policies list');
      const list = await clientContext(inv).iam().listPolicies({ scope: SCOPES[scopeText as keyof typeof SCOPES], ...(inv.bool('attached') ? { onlyAttached: true } : {}) });
      return {
        json: list.map((p) => ({ PolicyName: p.policyName, PolicyId: p.policyId, Arn: p.arn, DefaultVersionId: p.defaultVersionId, AttachmentCount: p.attachmentCount })),
        table: { columns: ['NAME', 'ARN', 'VERSION', 'ATTACHED'], rows: list.map((p) => [p.policyName, p.arn, p.defaultVersionId, p.attachmentCount]) },
      };
    },
  },
  {
    path: ['policies', 'create'],
    summary: 'Create a managed policy.',
    usage: 'NAME --document JSON|@FILE [--description TEXT] [--path PATH]',
    client: true,
    options: {
      document: { type: 'string', value: 'JSON|@FILE', description: 'the policy document (- reads stdin)' },
      description: { type: 'string', value: 'TEXT', description: 'a description' },
      path: { type: 'string', value: 'PATH', description: 'default /' },
    },
    examples: [
      'portcullis policies create ReadOnlyUsers --document @read-users.json',
      `portcullis policies create Ping --document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:GetCallerIdentity","Resource":"*"}]}'`,
    ],
    async run(inv) {
      const description = inv.str('description');
      const path = inv.str('path');
      const p = await clientContext(inv).iam().createPolicy(arg(inv, 0, 'the policy name', 'policies create'), readDocument(inv.need('document'), inv, '--document'), { ...(description ? { description } : {}), ...(path ? { path } : {}) });
      return { json: { PolicyName: p.policyName, PolicyId: p.policyId, Arn: p.arn, DefaultVersionId: p.defaultVersionId }, table: fields([['PolicyName', p.policyName], ['Arn', p.arn], ['DefaultVersionId', p.defaultVersionId]]) };
    },
  },
  {
    path: ['policies', 'get'],
    summary: 'Show a managed policy and its default version\'s document.',
    usage: 'ARN',
    client: true,
    examples: ['portcullis policies get arn:aws:iam::aws:policy/ReadOnlyAccess'],
    async run(inv) {
      const iam = clientContext(inv).iam();
      const arn = arg(inv, 0, 'the policy ARN', 'policies get');
      const p = await iam.getPolicy(arn);
      const document = JSON.parse(await iam.getPolicyDocument(arn, p.defaultVersionId)) as unknown;
      return {
        json: { PolicyName: p.policyName, PolicyId: p.policyId, Arn: p.arn, DefaultVersionId: p.defaultVersionId, AttachmentCount: p.attachmentCount, Description: p.description, Document: document },
        table: fields([['PolicyName', p.policyName], ['Arn', p.arn], ['DefaultVersionId', p.defaultVersionId], ['AttachmentCount', p.attachmentCount]]),
        text: `\n${JSON.stringify(document, null, 2)}\n`,
      };
    },
  },
  {
    path: ['policies', 'update'],
    summary: 'Give a managed policy a new document: a new default version (IAM keeps at most 5).',
    usage: 'ARN --document JSON|@FILE [--prune]',
    client: true,
    options: {
      document: { type: 'string', value: 'JSON|@FILE', description: 'the new policy document (- reads stdin)' },
      prune: { type: 'boolean', description: 'when 5 versions exist, delete the oldest non-default one first' },
    },
    examples: ['portcullis policies update arn:aws:iam::123456789012:policy/Ping --document @ping-v2.json --prune'],
    async run(inv) {
      const iam = clientContext(inv).iam();
      const arn = arg(inv, 0, 'the policy ARN', 'policies update');
      const document = readDocument(inv.need('document'), inv, '--document');
      if (inv.bool('prune')) {
        const versions = await iam.listPolicyVersions(arn);
        if (versions.length >= 5) {
          const oldest = versions.filter((v) => !v.isDefaultVersion).sort((a, b) => a.createDate.localeCompare(b.createDate) || a.versionId.localeCompare(b.versionId, undefined, { numeric: true }))[0];
          if (oldest !== undefined) {
            inv.progress(`deleting the oldest version, ${oldest.versionId}`);
            await iam.deletePolicyVersion(arn, oldest.versionId);
          }
        }
      }
      const v = await iam.createPolicyVersion(arn, document);
      return { json: { PolicyArn: arn, VersionId: v.versionId, IsDefaultVersion: v.isDefaultVersion }, text: `${arn} is now at ${v.versionId}\n` };
    },
  },
  {
    path: ['policies', 'versions'],
    summary: 'List the versions of a managed policy.',
    usage: 'ARN',
    client: true,
    examples: ['portcullis policies versions arn:aws:iam::123456789012:policy/Ping'],
    async run(inv) {
      const versions = await clientContext(inv).iam().listPolicyVersions(arg(inv, 0, 'the policy ARN', 'policies versions'));
      return {
        json: versions.map((v) => ({ VersionId: v.versionId, IsDefaultVersion: v.isDefaultVersion, CreateDate: v.createDate })),
        table: { columns: ['VERSION', 'DEFAULT', 'CREATED'], rows: versions.map((v) => [v.versionId, v.isDefaultVersion ? 'yes' : '', v.createDate]) },
      };
    },
  },
  {
    path: ['policies', 'delete'],
    summary: 'Delete a managed policy (detach it everywhere first); with --force, first delete its non-default versions.',
    usage: 'ARN [--force]',
    client: true,
    options: { force: { type: 'boolean', description: 'delete the non-default versions first (shows progress)' } },
    examples: ['portcullis policies delete arn:aws:iam::123456789012:policy/Ping --force'],
    async run(inv) {
      const arn = arg(inv, 0, 'the policy ARN', 'policies delete');
      const iam = clientContext(inv).iam();
      if (inv.bool('force')) {
        const old = (await iam.listPolicyVersions(arn)).filter((v) => !v.isDefaultVersion);
        for (const [i, v] of old.entries()) {
          inv.progress(`[${i + 1}/${old.length + 1}] deleting version ${v.versionId}`);
          await iam.deletePolicyVersion(arn, v.versionId);
        }
        inv.progress(`[${old.length + 1}/${old.length + 1}] deleting ${arn}`);
      }
      await iam.deletePolicy(arn);
      return done(`deleted ${arn}`, { Arn: arn, Deleted: true });
    },
  },
  ...(['attach', 'detach'] as const).map((verb): Command => ({
    path: ['policies', verb],
    summary: `${verb === 'attach' ? 'Attach a managed policy to' : 'Detach a managed policy from'} a user, group or role.`,
    usage: 'ARN --user NAME | --group NAME | --role NAME',
    client: true,
    options: TARGET_OPTIONS,
    examples: [`portcullis policies ${verb} arn:aws:iam::aws:policy/ReadOnlyAccess --group developers`],
    async run(inv) {
      const arn = arg(inv, 0, 'the policy ARN', `policies ${verb}`);
      const t = target(inv, `policies ${verb}`);
      const iam = clientContext(inv).iam();
      await (verb === 'attach' ? iam.attachPolicy(t.kind, t.name, arn) : iam.detachPolicy(t.kind, t.name, arn));
      return done(`${verb === 'attach' ? 'attached' : 'detached'} ${arn} ${verb === 'attach' ? 'to' : 'from'} ${t.kind} ${t.name}`, { PolicyArn: arn, [t.kind]: t.name });
    },
  })),
  {
    path: ['policies', 'attached'],
    summary: 'List the managed policies attached to a user, group or role.',
    usage: '--user NAME | --group NAME | --role NAME',
    client: true,
    options: TARGET_OPTIONS,
    examples: ['portcullis policies attached --role Deployer'],
    async run(inv) {
      const t = target(inv, 'policies attached');
      const list = await clientContext(inv).iam().listAttachedPolicies(t.kind, t.name);
      return { json: list.map((p) => ({ PolicyName: p.policyName, PolicyArn: p.policyArn })), table: { columns: ['NAME', 'ARN'], rows: list.map((p) => [p.policyName, p.policyArn]) } };
    },
  },
  {
    path: ['policies', 'put-inline'],
    summary: 'Create or replace an inline policy of a user, group or role.',
    usage: '--user NAME | --group NAME | --role NAME --name POLICY --document JSON|@FILE',
    client: true,
    options: { ...TARGET_OPTIONS, name: { type: 'string', value: 'POLICY', description: 'the inline policy\'s name' }, document: { type: 'string', value: 'JSON|@FILE', description: 'the policy document' } },
    examples: ['portcullis policies put-inline --user alice --name assume --document @assume.json'],
    async run(inv) {
      const t = target(inv, 'policies put-inline');
      const name = inv.need('name');
      await clientContext(inv).iam().putInlinePolicy(t.kind, t.name, name, readDocument(inv.need('document'), inv, '--document'));
      return done(`put inline policy ${name} on ${t.kind} ${t.name}`, { PolicyName: name, [t.kind]: t.name });
    },
  },
  {
    path: ['policies', 'get-inline'],
    summary: 'Show an inline policy of a user, group or role.',
    usage: '--user NAME | --group NAME | --role NAME --name POLICY',
    client: true,
    options: { ...TARGET_OPTIONS, name: { type: 'string', value: 'POLICY', description: 'the inline policy\'s name' } },
    examples: ['portcullis policies get-inline --user alice --name assume'],
    async run(inv) {
      const t = target(inv, 'policies get-inline');
      const doc = JSON.parse(await clientContext(inv).iam().getInlinePolicy(t.kind, t.name, inv.need('name'))) as unknown;
      return { json: doc, text: JSON.stringify(doc, null, 2) };
    },
  },
  {
    path: ['policies', 'list-inline'],
    summary: 'List the inline policies of a user, group or role.',
    usage: '--user NAME | --group NAME | --role NAME',
    client: true,
    options: TARGET_OPTIONS,
    examples: ['portcullis policies list-inline --role Deployer'],
    async run(inv) {
      const t = target(inv, 'policies list-inline');
      const names = await clientContext(inv).iam().listInlinePolicies(t.kind, t.name);
      return { json: names, table: { columns: ['NAME'], rows: names.map((n) => [n]) } };
    },
  },
  {
    path: ['policies', 'delete-inline'],
    summary: 'Delete an inline policy of a user, group or role.',
    usage: '--user NAME | --group NAME | --role NAME --name POLICY',
    client: true,
    options: { ...TARGET_OPTIONS, name: { type: 'string', value: 'POLICY', description: 'the inline policy\'s name' } },
    examples: ['portcullis policies delete-inline --user alice --name assume'],
    async run(inv) {
      const t = target(inv, 'policies delete-inline');
      const name = inv.need('name');
      await clientContext(inv).iam().deleteInlinePolicy(t.kind, t.name, name);
      return done(`deleted inline policy ${name} of ${t.kind} ${t.name}`, { PolicyName: name, Deleted: true });
    },
  },
];

/** `key=value[,value…][:type]`, type one of IAM's ContextKeyType values (default string). */
function contextEntry(s: string): ContextEntry {
  const m = /^([^=]+)=(.*?)(?::(string|stringList|numeric|numericList|boolean|booleanList|ip|ipList|date|dateList|binary|binaryList))?$/.exec(s);
  if (!m) throw new UsageError(`--context \`${s}\` must be KEY=VALUE[,VALUE…][:TYPE]`, 'simulate');
  return { key: m[1]!, values: m[2]!.split(','), type: m[3] ?? 'string' };
}

async function principalArn(inv: Invocation, p: string): Promise<string> {
  if (p.startsWith('arn:')) return p;
  const m = /^(user|role|group)\/(.+)$/.exec(p);
  if (!m) throw new UsageError('--principal must be an ARN or user/NAME, role/NAME, group/NAME', 'simulate');
  const iam = clientContext(inv).iam();
  if (m[1] === 'user') return (await iam.getUser(m[2]!)).arn;
  if (m[1] === 'role') return (await iam.getRole(m[2]!)).arn;
  return (await iam.getGroup(m[2]!)).group.arn;
}

export const simulateCommand: Command = {
  path: ['simulate'],
  summary: 'Would these actions be allowed? Simulates a principal\'s policies (or policies you give) without calling anything.',
  usage: '(--principal ARN|user/NAME|role/NAME | --policy JSON|@FILE…) --action ACTION… [--resource ARN…] [--context KEY=VALUE[:TYPE]…] [--require-allowed]',
  client: true,
  options: {
    principal: { type: 'string', value: 'ARN', description: 'simulate this principal\'s policies (SimulatePrincipalPolicy)' },
    policy: { type: 'string', multiple: true, value: 'JSON|@FILE', description: 'simulate these policies alone (SimulateCustomPolicy); with --principal, added as session policies' },
    action: { type: 'string', multiple: true, short: 'a', value: 'ACTION', description: 'e.g. iam:CreateUser' },
    resource: { type: 'string', multiple: true, short: 'r', value: 'ARN', description: 'default *' },
    context: { type: 'string', multiple: true, short: 'c', value: 'KEY=VALUE[:TYPE]', description: 'a condition key, e.g. aws:SourceIp=10.0.0.1:ip' },
    'require-allowed': { type: 'boolean', description: `exit ${EXIT.refused} unless every result is allowed (for scripts)` },
  },
  examples: [
    'portcullis simulate --principal user/alice --action iam:CreateUser --action iam:ListUsers',
    'portcullis simulate --policy @policy.json --action s3:GetObject --resource arn:aws:s3:::bucket/key --context aws:SourceIp=10.1.2.3:ip',
    'portcullis simulate --principal role/Deployer --action sts:GetCallerIdentity --require-allowed && echo ok',
  ],
  async run(inv) {
    const actions = inv.list('action');
    if (actions.length === 0) throw new UsageError('name at least one --action', 'simulate');
    const resources = inv.list('resource');
    const context = inv.list('context').map(contextEntry);
    const policies = inv.list('policy').map((p) => readDocument(p, inv, '--policy'));
    const principal = inv.str('principal');
    const iam = clientContext(inv).iam();
    let results;
    if (principal !== undefined) {
      results = await iam.simulatePrincipalPolicy({ policySourceArn: await principalArn(inv, principal), actions, ...(resources.length ? { resources } : {}), context, ...(policies.length ? { policyInputList: policies } : {}) });
    } else {
      if (policies.length === 0) throw new UsageError('give --principal or at least one --policy', 'simulate');
      results = await iam.simulateCustomPolicy({ policies, actions, ...(resources.length ? { resources } : {}), context });
    }
    const result = {
      json: results.map((r) => ({ EvalActionName: r.action, EvalResourceName: r.resource, EvalDecision: r.decision, MatchedStatements: r.matchedStatements, MissingContextValues: r.missingContextValues })),
      table: { columns: ['ACTION', 'RESOURCE', 'DECISION', 'MATCHED', 'MISSING CONTEXT'], rows: results.map((r) => [r.action, r.resource, r.decision, r.matchedStatements.join(', ') || '-', r.missingContextValues.join(', ') || '-']) },
    };
    if (inv.bool('require-allowed') && results.some((r) => r.decision !== 'allowed')) {
      return { ...result, exitCode: EXIT.refused };
    }
    return result;
  },
};
