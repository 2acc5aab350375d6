/**
 * Authorization of every request: the principal's policies from the store (kept in memory for
 * at most `ttlMs`, like credentials, and forgotten at once on a change notice), compiled once per
 * policy version, then `evaluate`.
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { PortcullisError } from '../core/errors.js';
import type { Principal } from '../core/principal.js';
import { PolicyCache, type CompiledPolicy } from '../iam/compile.js';
import type { RequestContext } from '../iam/context.js';
import { evaluate, type Decision, type PolicySet } from '../iam/evaluate.js';
import type { Store, Tag } from '../store/types.js';

/** A principal's compiled policies and its tags (aws:PrincipalTag/…). */
interface Loaded {
  readonly set: PolicySet;
  readonly tags: readonly Tag[];
}

/** A resource's own policy (several texts act as one), the account that owns it, and its kind. */
export interface ResourcePolicyInput {
  readonly text: string | readonly string[];
  readonly account: string;
  readonly kind: 'trust' | 'resource';
}

export class Authorizer {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #ttlMs: () => number;
  readonly #compiled = new PolicyCache();
  #sets = new Map<string, { at: number; set: Promise<Loaded> }>();

  constructor(store: Store, clock: Clock, ttlMs: number | (() => number) = 1000) {
    this.#store = store;
    this.#clock = clock;
    this.#ttlMs = typeof ttlMs === 'number' ? () => ttlMs : ttlMs;
  }

  /**
   * Policies changed (on this node, or on another as a change notice says): forget every
   * principal's set at once. A load under way stays in the old map and is dropped with it.
   */
  invalidate(): void {
    this.#sets = new Map();
  }

  /**
   * `resourcePolicy`: the resource's own policy when it has one (a role's trust policy for
   * sts:AssumeRole), with the account that owns the resource. Several texts act as one policy
   * (the data plane's configured policies that cover one resource).
   */
  async authorize(
    principal: Principal,
    action: string,
    resource: string,
    context: RequestContext,
    resourcePolicy?: ResourcePolicyInput,
    /** The resource's tags (aws:ResourceTag/…), asked for only when a policy that decides could read them. */
    resourceTags?: () => Promise<ReadonlyMap<string, string>>,
  ): Promise<Decision> {
    const { set, tags } = await this.#policySet(principal);
    for (const t of tags) context.set(`aws:PrincipalTag/${t.key}`, t.value);
    const session = principal.session;
    if (session !== undefined) for (const [k, v] of Object.entries(session.tags)) context.set(`aws:PrincipalTag/${k}`, v);
    // A federated user's session policies always apply: with none, the session may do nothing.
    const sessionPolicies = session === undefined || (session.policies.length === 0 && principal.type !== 'federated-user')
      ? undefined
      : session.policies.map((text) => this.#compile(`session:${digest(text)}`, text));
    const resourcePolicies = resourcePolicy === undefined
      ? undefined
      : (typeof resourcePolicy.text === 'string' ? [resourcePolicy.text] : resourcePolicy.text)
        .map((text) => this.#compiled.get(`${resourcePolicy.kind}:${resource}:${digest(text)}`, text, resourcePolicy.kind));
    // Spelled out: a spread of `set` and two more members costs V8 a slow path on every request.
    const policies: PolicySet = { identity: set.identity, boundary: set.boundary, session: sessionPolicies, resource: resourcePolicies };
    let resourceContext = context;
    if (resourceTags !== undefined && [...set.identity, set.boundary, ...(sessionPolicies ?? []), ...(resourcePolicies ?? [])].some((p) => p?.readsResourceTags === true)) {
      const resourceTagValues = await resourceTags();
      if (resourceTagValues.size > 0) resourceContext = context.copy();
      for (const [k, v] of resourceTagValues) resourceContext.set(`aws:ResourceTag/${k}`, v);
    }
    const decision = evaluate(
      {
        principal: principal.type === 'assumed-role'
          ? { kind: 'role-session', arn: principal.arn, accountId: principal.accountId, roleArn: principal.roleArn }
          : { kind: principal.type === 'federated-user' ? 'federated' : 'user', arn: principal.arn, accountId: principal.accountId },
        action,
        resource,
        resourceAccount: resourcePolicy?.account,
        context: resourceContext,
      },
      policies,
    );
    // A role's trust policy must itself allow, whatever the identity policies say.
    // https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_terms-and-concepts.html
    if (resourcePolicy?.kind === 'trust' && decision.decision === 'allowed' && !decision.matched.some((m) => m.role === 'resource')) {
      return { decision: 'implicitDeny', matched: [], reason: 'implicit-deny:trust' };
    }
    return decision;
  }

  #policySet(principal: Principal): Promise<Loaded> {
    const id = principal.type === 'assumed-role' ? principal.roleId : principal.type === 'federated-user' ? principal.iamUserId : principal.userId;
    const hit = this.#sets.get(id);
    if (hit !== undefined && this.#clock() - hit.at < this.#ttlMs()) return hit.set;
    const set = this.#load(principal.type === 'assumed-role' ? 'role' : 'user', id);
    if (this.#sets.size >= 10_000) this.#sets = new Map();
    this.#sets.set(id, { at: this.#clock(), set });
    set.catch(() => this.#sets.delete(id));
    return set;
  }

  /** A user's or a role's policies and tags. A deleted role has none: its sessions can do nothing. */
  async #load(type: 'user' | 'role', id: string): Promise<Loaded> {
    const [p, tags] = await Promise.all([
      type === 'user' ? this.#store.principalPolicies(id) : this.#store.rolePolicies(id),
      this.#store.listTags(type, id),
    ]);
    // Ids change whenever the text can: managed versions never change, inline ones are hashed.
    const inline = p.inline.map((x) => this.#compile(`inline:${id}:${x.policyName}:${digest(x.document)}`, x.document));
    const managed = p.managed.map((x) => this.#compile(`${x.arn}@${x.versionId}`, x.document));
    const boundary = p.boundary === undefined ? undefined : this.#compile(`${p.boundary.arn}@${p.boundary.versionId}`, p.boundary.document);
    return { set: { identity: [...inline, ...managed], boundary }, tags };
  }

  #compile(id: string, text: string): CompiledPolicy {
    return this.#compiled.get(id, text, 'identity');
  }
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('base64url').slice(0, 16);
}

/** The decoded form of an authorization failure, in the shape DecodeAuthorizationMessage returns. */
export function decodedAuthorizationMessage(principal: Principal, action: string, resource: string, context: RequestContext, d: Decision): object {
  return {
    allowed: false,
    explicitDeny: d.decision === 'explicitDeny',
    matchedStatements: { items: d.matched.map((m) => ({ statementId: m.sid ?? '', effect: m.effect.toUpperCase(), policyId: m.policy, policyType: m.role })) },
    failures: { items: [] },
    context: {
      principal: { id: principal.userId, arn: principal.arn },
      action,
      resource,
      conditions: { items: [...context.keys()].sort().map((key) => ({ key, values: { items: (context.get(key) ?? []).map((value) => ({ value })) } })) },
    },
  };
}

/** AccessDenied as IAM words it: who, what, on which resource, and which kind of policy said no. */
export function accessDenied(principalArn: string, action: string, resource: string, d: Decision, encoded?: string): PortcullisError {
  const why = d.decision === 'explicitDeny'
    ? `with an explicit deny in ${d.reason.endsWith('boundary') ? 'a permissions boundary' : d.reason.endsWith('session') ? 'a session policy' : d.reason.endsWith('resource') ? 'a resource-based policy' : 'an identity-based policy'}`
    : d.reason === 'implicit-deny:boundary' ? `because no permissions boundary allows the ${action} action`
    : d.reason === 'implicit-deny:session' ? `because no session policy allows the ${action} action`
    : d.reason === 'implicit-deny:trust' ? `because the role's trust policy does not allow it`
    : `because no identity-based policy allows the ${action} action`;
  const tail = encoded === undefined ? '' : ` Encoded authorization failure message: ${encoded}`;
  return new PortcullisError('AccessDenied', `User: ${principalArn} is not authorized to perform: ${action} on resource: ${resource} ${why}.${tail}`);
}
