/**
 * SimulatePrincipalPolicy and SimulateCustomPolicy: the policy engine run on the caller's
 * question, answered with EvalDecision, MatchedStatements and MissingContextValues per action
 * and resource, as IAM answers.
 * https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html
 */
import { PortcullisError } from '../core/errors.js';
import { parseArn } from '../iam/arn.js';
import { compilePolicy, type AuthzPrincipal, type CompiledPolicy } from '../iam/compile.js';
import { RequestContext } from '../iam/context.js';
import { parsePolicy, type PolicyKind } from '../iam/document.js';
import { evaluate, type MatchedStatement } from '../iam/evaluate.js';
import { tokenize } from '../iam/pattern.js';
import { param, required, type XmlNode } from './query.js';
import type { ApiContext, QueryAction } from './sts.js';
import type { PrincipalPolicies } from '../store/types.js';

type Params = ReadonlyMap<string, string>;

/** `Name.member.1`, `Name.member.2`, … in order. */
export function memberList(p: Params, name: string): string[] {
  const out: string[] = [];
  for (let i = 1; p.has(`${name}.member.${i}`); i++) out.push(p.get(`${name}.member.${i}`)!);
  return out;
}

interface ContextEntry {
  readonly key: string;
  readonly values: string[];
  readonly type: string;
}

const CONTEXT_TYPES = new Set(['string', 'stringList', 'numeric', 'numericList', 'boolean', 'booleanList', 'ip', 'ipList', 'binary', 'binaryList', 'date', 'dateList']);

function contextEntries(p: Params): ContextEntry[] {
  const out: ContextEntry[] = [];
  for (let i = 1; p.has(`ContextEntries.member.${i}.ContextKeyName`); i++) {
    const prefix = `ContextEntries.member.${i}`;
    const type = p.get(`${prefix}.ContextKeyType`) ?? 'string';
    if (!CONTEXT_TYPES.has(type)) throw new PortcullisError('InvalidInput', `Invalid ContextKeyType \`${type.slice(0, 32)}\``);
    out.push({ key: p.get(`${prefix}.ContextKeyName`)!, values: memberList(p, `${prefix}.ContextKeyValues`), type });
  }
  return out;
}

interface Source {
  readonly policy: CompiledPolicy;
  /** IAM's SourcePolicyType: user, group, role, aws-managed, user-managed, IAM Policy, resource. */
  readonly type: string;
}

function compileInput(text: string, id: string, kind: PolicyKind): CompiledPolicy {
  return compilePolicy(id, parsePolicy(text, kind), kind);
}

/** Every condition key a policy's statements for `action` read, in conditions or variables. */
function keysRead(policies: readonly CompiledPolicy[], actionLower: string): Set<string> {
  const keys = new Set<string>();
  for (const p of policies) {
    const useful = new Set(p.statementsFor(actionLower).map((s) => s.index));
    p.document.statements.forEach((s, i) => {
      if (!useful.has(i)) return;
      for (const c of s.conditions) {
        keys.add(c.key);
        if (p.document.version === '2012-10-17') for (const v of c.values) for (const t of tokenize(v, true, false)) if (t.kind === 'var') keys.add(t.key);
      }
      if (p.document.version === '2012-10-17') {
        for (const r of [...(s.resource ?? []), ...(s.notResource ?? [])]) for (const t of tokenize(r, true, false)) if (t.kind === 'var') keys.add(t.key);
      }
    });
  }
  return keys;
}

interface Simulation {
  readonly principal: AuthzPrincipal;
  readonly identity: readonly Source[];
  readonly boundary: Source | undefined;
  readonly resourcePolicy: Source | undefined;
  readonly resourceOwner: string | undefined;
}

function simulate(sim: Simulation, p: Params): XmlNode {
  const actions = memberList(p, 'ActionNames');
  if (actions.length === 0) throw new PortcullisError('ValidationError', "1 validation error detected: Value null at 'actionNames' failed to satisfy constraint: Member must not be null");
  const resources = memberList(p, 'ResourceArns');
  const entries = contextEntries(p);
  const context = new RequestContext(entries.map((e) => [e.key, e.type.endsWith('List') ? e.values : e.values[0] ?? ''] as const));
  const byId = new Map<string, Source>();
  for (const s of [...sim.identity, ...(sim.boundary ? [sim.boundary] : []), ...(sim.resourcePolicy ? [sim.resourcePolicy] : [])]) byId.set(s.policy.id, s);
  const matched = (m: readonly MatchedStatement[]) => m.map((x) => ({ SourcePolicyId: x.policy, SourcePolicyType: byId.get(x.policy)?.type ?? 'none' }));

  const results: XmlNode[] = [];
  for (const action of actions) {
    if (!/^[\w-]+:[\w*?-]+$/.test(action)) throw new PortcullisError('InvalidInput', `Invalid action name \`${action.slice(0, 64)}\``);
    const actionLower = action.toLowerCase();
    const all = [...sim.identity, ...(sim.boundary ? [sim.boundary] : []), ...(sim.resourcePolicy ? [sim.resourcePolicy] : [])].map((s) => s.policy);
    const missing = [...keysRead(all, actionLower)].filter((k) => !context.has(k)).sort();
    for (const resource of resources.length > 0 ? resources : ['*']) {
      const d = evaluate(
        { principal: sim.principal, action, resource, resourceAccount: sim.resourceOwner ?? (parseArn(resource)?.account || undefined), context },
        {
          identity: sim.identity.map((s) => s.policy),
          boundary: sim.boundary?.policy,
          resource: sim.resourcePolicy ? [sim.resourcePolicy.policy] : undefined,
        },
      );
      const boundaryAllows = sim.boundary === undefined ? undefined : d.matched.some((m) => m.role === 'boundary') || d.decision === 'allowed';
      results.push({
        EvalActionName: action,
        EvalResourceName: resource,
        EvalDecision: d.decision,
        MatchedStatements: matched(d.matched),
        MissingContextValues: missing,
        PermissionsBoundaryDecisionDetail: boundaryAllows === undefined ? undefined : { AllowedByPermissionsBoundary: boundaryAllows },
      });
    }
  }
  return { EvaluationResults: results, IsTruncated: false };
}

function inputs(p: Params, list: string, kind: PolicyKind, type: string): Source[] {
  return memberList(p, list).map((text, i) => ({ policy: compileInput(text, `${list}.${i + 1}`, kind), type }));
}

function resourcePolicy(p: Params): Source | undefined {
  const text = param(p, 'ResourcePolicy');
  return text === undefined ? undefined : { policy: compileInput(text, 'ResourcePolicy', 'resource'), type: 'resource' };
}

function boundaryInput(p: Params): Source | undefined {
  const list = inputs(p, 'PermissionsBoundaryPolicyInputList', 'identity', 'IAM Policy');
  if (list.length > 1) throw new PortcullisError('InvalidInput', 'PermissionsBoundaryPolicyInputList takes one policy.');
  return list[0];
}

function callerPrincipal(p: Params, ctx: ApiContext, fallback: AuthzPrincipal): AuthzPrincipal {
  const caller = param(p, 'CallerArn');
  if (caller === undefined) return fallback;
  const arn = parseArn(caller);
  if (arn === undefined || arn.service !== 'iam' || !/^user\//.test(arn.resource)) throw new PortcullisError('InvalidInput', 'CallerArn must be the ARN of an IAM user.');
  return { kind: 'user', arn: caller, accountId: arn.account || ctx.principal.accountId };
}

/** ResourceOwner: an account ARN (`arn:aws:iam::123456789012:root`) or an account ID. */
function ownerAccount(p: Params): string | undefined {
  const v = param(p, 'ResourceOwner');
  if (v === undefined) return undefined;
  const account = /^\d{12}$/.test(v) ? v : parseArn(v)?.account;
  if (account === undefined || !/^\d{12}$/.test(account)) throw new PortcullisError('InvalidInput', 'ResourceOwner must be an account ARN or ID.');
  return account;
}

/**
 * The policies of the user, group or role that PolicySourceArn names (a user's include its
 * groups'), and the principal the simulation acts as: the user, a member of the group, or a
 * session of the role.
 */
async function policySource(sourceArn: string, ctx: ApiContext): Promise<{ kind: 'user' | 'group' | 'role'; stored: PrincipalPolicies; principal: AuthzPrincipal }> {
  const arn = parseArn(sourceArn);
  const m = arn?.service === 'iam' && arn.account === ctx.principal.accountId ? /^(user|group|role)\/(?:.*\/)?([^/]+)$/.exec(arn.resource) : null;
  const accountId = ctx.principal.accountId;
  const kind = (m?.[1] ?? 'user') as 'user' | 'group' | 'role';
  const missing = () => new PortcullisError('NoSuchEntity', `The ${kind} with ARN ${sourceArn} cannot be found.`);
  if (m === null) throw missing();
  const name = m[2]!;
  if (kind === 'user') {
    const user = await ctx.store.getUser(accountId, name);
    if (user === undefined) throw missing();
    return { kind, stored: await ctx.store.principalPolicies(user.userId), principal: { kind: 'user', arn: sourceArn, accountId } };
  }
  if (kind === 'role') {
    const role = await ctx.store.getRole(accountId, name);
    if (role === undefined) throw missing();
    return { kind, stored: await ctx.store.rolePolicies(role.roleId), principal: { kind: 'role-session', arn: sourceArn, accountId, roleArn: sourceArn } };
  }
  const group = await ctx.store.getGroup(accountId, name);
  if (group === undefined) throw missing();
  const owner = { type: 'group', id: group.groupId } as const;
  const [inline, attached] = await Promise.all([ctx.store.listInlinePolicies(owner), ctx.store.listAttachedPolicies(owner)]);
  const managed = await Promise.all(attached.map(async (x) => ({ arn: x.arn, versionId: x.defaultVersionId, document: (await ctx.store.getPolicyVersion(x.arn, x.defaultVersionId))!.document })));
  return { kind, stored: { inline, managed, boundary: undefined }, principal: { kind: 'user', arn: sourceArn, accountId } };
}

export const SIMULATE_ACTIONS: Readonly<Record<string, QueryAction>> = {
  SimulatePrincipalPolicy: {
    resource: async (p) => param(p, 'PolicySourceArn') ?? '*',
    async run(p, ctx) {
      const sourceArn = required(p, 'PolicySourceArn');
      const { kind, stored, principal: source } = await policySource(sourceArn, ctx);
      const identity: Source[] = [
        ...stored.inline.map((x) => ({ policy: compileInput(x.document, x.policyName, 'identity'), type: kind })),
        ...stored.managed.map((x) => ({ policy: compileInput(x.document, x.arn.split('/').pop()!, 'identity'), type: x.arn.startsWith('arn:aws:iam::aws:') ? 'aws-managed' : 'user-managed' })),
        ...inputs(p, 'PolicyInputList', 'identity', 'IAM Policy'),
      ];
      const storedBoundary = stored.boundary === undefined ? undefined : { policy: compileInput(stored.boundary.document, stored.boundary.arn.split('/').pop()!, 'identity'), type: stored.boundary.arn.startsWith('arn:aws:iam::aws:') ? 'aws-managed' : 'user-managed' };
      const principal = callerPrincipal(p, ctx, source);
      return simulate({ principal, identity, boundary: boundaryInput(p) ?? storedBoundary, resourcePolicy: resourcePolicy(p), resourceOwner: ownerAccount(p) }, p);
    },
  },

  SimulateCustomPolicy: {
    resource: async () => '*',
    async run(p, ctx) {
      const identity = inputs(p, 'PolicyInputList', 'identity', 'IAM Policy');
      if (identity.length === 0) throw new PortcullisError('ValidationError', "1 validation error detected: Value null at 'policyInputList' failed to satisfy constraint: Member must not be null");
      const principal = callerPrincipal(p, ctx, { kind: 'user', arn: `arn:aws:iam::${ctx.principal.accountId}:user/simulated`, accountId: ctx.principal.accountId });
      return simulate({ principal, identity, boundary: boundaryInput(p), resourcePolicy: resourcePolicy(p), resourceOwner: ownerAccount(p) }, p);
    },
  },
};
