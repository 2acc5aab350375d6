/**
 * Policies compiled once into matchers, so evaluation never re-reads JSON or rebuilds a pattern
 * that has no variables. `PolicyCache` holds compiled policies by id (a policy ARN and version,
 * say) for whoever owns it; there is no module-level cache.
 */
import type { RequestContext } from './context.js';
import { compileCondition, type CompiledCondition } from './conditions.js';
import { parsePolicy, type PolicyDocument, type PolicyKind, type PrincipalSpec, type Statement } from './document.js';
import { compileArnTokens, compileTokens, hasVariables, matchResolved, resolveTokens, tokenize } from './pattern.js';
import { Lru } from '../core/lru.js';

/** Who is asking, as resource-based policies can name them. */
export interface AuthzPrincipal {
  readonly kind: 'user' | 'role-session' | 'root' | 'federated' | 'service' | 'web-identity';
  readonly arn: string;
  readonly accountId: string;
  /** For a role session: the role's ARN (resource policies may name the role or the session). */
  readonly roleArn?: string | undefined;
  /** For a service principal: its name, e.g. `ec2.amazonaws.com`. */
  readonly service?: string | undefined;
  /** For a web identity: the ARN of the OpenID Connect provider that vouched for it. */
  readonly provider?: string | undefined;
}

/** How a statement's Principal matched: not at all, through the account, or by name. */
export type PrincipalMatch = 'none' | 'account' | 'any' | 'arn' | 'session';

export interface CompiledStatement {
  readonly index: number;
  readonly sid: string | undefined;
  readonly effect: 'Allow' | 'Deny';
  matchesAction(actionLower: string): boolean;
  matchesResource(resource: string, ctx: RequestContext): boolean;
  /** Always 'any' for policies without Principal (identity policies). */
  matchesPrincipal(p: AuthzPrincipal): PrincipalMatch;
  /** The statement names its principals with NotPrincipal. */
  readonly notPrincipal: boolean;
  readonly conditions: readonly CompiledCondition[];
}

export interface CompiledPolicy {
  readonly id: string;
  readonly kind: PolicyKind;
  readonly document: PolicyDocument;
  readonly statements: readonly CompiledStatement[];
  /** Does the policy name a resource's tags anywhere (a condition key, a policy variable)? */
  readonly readsResourceTags: boolean;
  /**
   * The statements whose Action/NotAction covers `actionLower`. Which statements an action
   * selects never depends on the request, so the answer is kept per action (bounded).
   */
  statementsFor(actionLower: string): readonly CompiledStatement[];
}

const ACTION_INDEX_MAX = 1024;

function actionMatcher(patterns: readonly string[]): (actionLower: string) => boolean {
  const exact = new Set<string>();
  const wild: Array<(a: string) => boolean> = [];
  for (const p of patterns) {
    if (p.includes('*') || p.includes('?')) wild.push(compileTokens(tokenize(p.toLowerCase(), false, true), false));
    else exact.add(p.toLowerCase());
  }
  return (a) => exact.has(a) || wild.some((m) => m(a));
}

function resourceMatcher(patterns: readonly string[], variables: boolean): (resource: string, ctx: RequestContext) => boolean {
  const compiled = patterns.map((p) => {
    const tokens = tokenize(p, variables, true);
    // The literal text before the first variable or wildcard must begin the resource: a
    // cheap test that spares most candidates the work of resolving variables.
    const first = tokens[0];
    const prefix = first !== undefined && first.kind === 'text' ? first.text : '';
    return hasVariables(tokens)
      ? (r: string, ctx: RequestContext) => {
          if (!r.startsWith(prefix)) return false;
          const resolved = resolveTokens(tokens, ctx);
          return resolved !== undefined && matchResolved(resolved, r, false, true, true);
        }
      : ((m) => (r: string) => m(r))(compileArnTokens(tokens, false, true));
  });
  return (r, ctx) => compiled.some((m) => m(r, ctx));
}

function principalMatcher(spec: PrincipalSpec): { match(p: AuthzPrincipal): PrincipalMatch; exempts(p: AuthzPrincipal): boolean } {
  const accounts = new Set<string>();
  const arns = new Set<string>();
  for (const a of spec.aws) {
    if (/^\d{12}$/.test(a)) accounts.add(a);
    else {
      const root = /^arn:[\w-]+:iam::(\d{12}):root$/.exec(a);
      if (root) accounts.add(root[1]!);
      else arns.add(a);
    }
  }
  const services = new Set(spec.service);
  const federated = new Set(spec.federated);
  return {
    match(p) {
      if (spec.any) return 'any';
      if (p.kind === 'service') return p.service !== undefined && services.has(p.service) ? 'arn' : 'none';
      if (p.kind === 'web-identity') return p.provider !== undefined && federated.has(p.provider) ? 'arn' : 'none';
      if (arns.has(p.arn)) return p.kind === 'role-session' || p.kind === 'federated' ? 'session' : 'arn';
      if (p.roleArn !== undefined && arns.has(p.roleArn)) return 'arn';
      if (accounts.has(p.accountId)) return p.kind === 'root' ? 'arn' : 'account';
      return 'none';
    },
    /**
     * NotPrincipal spares only the principals it names exactly: listing an account spares its
     * root user, not its users; listing a role spares no session of it.
     * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html
     */
    exempts(p) {
      if (spec.any) return true;
      if (p.kind === 'service') return p.service !== undefined && services.has(p.service);
      if (p.kind === 'web-identity') return p.provider !== undefined && federated.has(p.provider);
      return arns.has(p.arn) || (p.kind === 'root' && accounts.has(p.accountId));
    },
  };
}

function compileStatement(s: Statement, index: number, variables: boolean): CompiledStatement {
  const action = actionMatcher(s.action ?? s.notAction!);
  const negateAction = s.action === undefined;
  const resource = s.resource ?? s.notResource;
  const resourceMatch = resource === undefined ? undefined : resourceMatcher(resource, variables);
  const negateResource = s.resource === undefined;
  const principal = s.principal ?? s.notPrincipal;
  const principalMatch = principal === undefined ? undefined : principalMatcher(principal);
  const negatePrincipal = s.principal === undefined;
  return {
    index,
    sid: s.sid,
    effect: s.effect,
    matchesAction: (a) => action(a) !== negateAction,
    matchesResource: (r, ctx) => resourceMatch === undefined || resourceMatch(r, ctx) !== negateResource,
    notPrincipal: negatePrincipal && principalMatch !== undefined,
    matchesPrincipal: (p) => {
      if (principalMatch === undefined) return 'any';
      if (!negatePrincipal) return principalMatch.match(p);
      // NotPrincipal: everyone except those named.
      return principalMatch.exempts(p) ? 'none' : 'any';
    },
    conditions: s.conditions.map((c) => compileCondition(c.operator, c.key, c.values, variables)),
  };
}

export function compilePolicy(id: string, document: PolicyDocument, kind: PolicyKind): CompiledPolicy {
  // Policy variables exist only in Version 2012-10-17; in 2008-10-17 `${…}` is plain text.
  const variables = document.version === '2012-10-17';
  const statements = document.statements.map((s, i) => compileStatement(s, i, variables));
  let byAction = new Map<string, readonly CompiledStatement[]>();
  return {
    id,
    kind,
    document,
    statements,
    // Looked for in the whole document, so that no spelling or place of the key is missed.
    readsResourceTags: /resourcetag\//i.test(JSON.stringify(document)),
    statementsFor(actionLower) {
      let hit = byAction.get(actionLower);
      if (hit === undefined) {
        hit = statements.filter((s) => s.matchesAction(actionLower));
        if (byAction.size >= ACTION_INDEX_MAX) byAction = new Map();
        byAction.set(actionLower, hit);
      }
      return hit;
    },
  };
}

/** Parsed and compiled policies by id, bounded. Ids must change when the text does (include the version). */
export class PolicyCache {
  readonly #lru: Lru<string, CompiledPolicy>;

  constructor(max = 4096) {
    this.#lru = new Lru(max);
  }

  get(id: string, text: string, kind: PolicyKind): CompiledPolicy {
    const key = `${kind}\u0000${id}`;
    let p = this.#lru.get(key);
    if (p === undefined) {
      p = compilePolicy(id, parsePolicy(text, kind), kind);
      this.#lru.set(key, p);
    }
    return p;
  }
}
