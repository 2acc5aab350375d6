/**
 * `evaluate(request, policies)`: AWS's policy evaluation logic, pure. Requests and compiled
 * policies in; a decision with the statements that made it and a reason out.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
 *
 * 1. An explicit Deny in any applicable policy wins.
 * 2. Same account: an Allow in a resource-based policy that names the principal is enough;
 *    otherwise the identity policies must allow, and so must the permissions boundary and the
 *    session policies when there are any. An implicit deny in a boundary does not limit a
 *    resource policy that names an IAM user's ARN, nor one that names a role session's own
 *    ARN; a session policy does not limit a resource policy that names the session.
 * 3. Another account: the identity side (identity, boundary, session) and the resource
 *    policy must both allow.
 */
import type { AuthzPrincipal, CompiledPolicy, CompiledStatement, PrincipalMatch } from './compile.js';
import type { RequestContext } from './context.js';

export interface AuthzRequest {
  readonly principal: AuthzPrincipal;
  /** `service:Action`, e.g. `iam:CreateUser`. */
  readonly action: string;
  /** The resource ARN, or `*` for actions without one. */
  readonly resource: string;
  /** The account that owns the resource; undefined: the principal's own. */
  readonly resourceAccount?: string | undefined;
  readonly context: RequestContext;
}

export interface PolicySet {
  readonly identity: readonly CompiledPolicy[];
  /** The permissions boundary; undefined when the principal has none. */
  readonly boundary?: CompiledPolicy | undefined;
  /** Session policies; undefined when the session has none. */
  readonly session?: readonly CompiledPolicy[] | undefined;
  /** Resource-based policies of the resource. */
  readonly resource?: readonly CompiledPolicy[] | undefined;
}

export type PolicyRole = 'identity' | 'boundary' | 'session' | 'resource';

export interface MatchedStatement {
  readonly role: PolicyRole;
  readonly policy: string;
  readonly sid: string | undefined;
  readonly index: number;
  readonly effect: 'Allow' | 'Deny';
}

export type DecisionKind = 'allowed' | 'explicitDeny' | 'implicitDeny';

export interface Decision {
  readonly decision: DecisionKind;
  /** The statements that decided: the denies for explicitDeny, the allows that counted otherwise. */
  readonly matched: readonly MatchedStatement[];
  /** A machine-readable reason, e.g. `explicit-deny:identity`, `no-allow`, `boundary`. */
  readonly reason: string;
}

interface Hit {
  readonly m: MatchedStatement;
  readonly principal: PrincipalMatch;
}

/** Does a statement (already known to cover the action) apply to the request? */
function applies(s: CompiledStatement, req: AuthzRequest, bounded: boolean): PrincipalMatch {
  let p = s.matchesPrincipal(req.principal);
  // A Deny with NotPrincipal always applies to a principal that has a permissions boundary.
  // https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html
  if (p === 'none' && bounded && s.notPrincipal && s.effect === 'Deny') p = 'any';
  if (p === 'none') return 'none';
  if (!s.matchesResource(req.resource, req.context)) return 'none';
  for (const c of s.conditions) if (!c.test(req.context)) return 'none';
  return p;
}

function collect(role: PolicyRole, policies: readonly CompiledPolicy[] | undefined, req: AuthzRequest, actionLower: string, bounded: boolean, out: Hit[]): void {
  if (policies === undefined) return;
  for (const policy of policies) {
    for (const s of policy.statementsFor(actionLower)) {
      const p = applies(s, req, bounded);
      if (p !== 'none') out.push({ m: { role, policy: policy.id, sid: s.sid, index: s.index, effect: s.effect }, principal: p });
    }
  }
}

export function evaluate(req: AuthzRequest, set: PolicySet): Decision {
  const actionLower = req.action.toLowerCase();
  const hits: Hit[] = [];
  const bounded = set.boundary !== undefined;
  collect('identity', set.identity, req, actionLower, bounded, hits);
  collect('boundary', set.boundary === undefined ? undefined : [set.boundary], req, actionLower, bounded, hits);
  collect('session', set.session, req, actionLower, bounded, hits);
  collect('resource', set.resource, req, actionLower, bounded, hits);

  const denies = hits.filter((h) => h.m.effect === 'Deny');
  if (denies.length > 0) {
    return { decision: 'explicitDeny', matched: denies.map((h) => h.m), reason: `explicit-deny:${denies[0]!.m.role}` };
  }
  const allows = (role: PolicyRole) => hits.filter((h) => h.m.role === role);
  const identity = allows('identity');
  const boundary = allows('boundary');
  const session = allows('session');
  const resource = allows('resource');
  const boundaryOk = set.boundary === undefined || boundary.length > 0;
  const sessionOk = set.session === undefined || session.length > 0;
  const identitySide = identity.length > 0 && boundaryOk && sessionOk;
  const sameAccount = req.resourceAccount === undefined || req.resourceAccount === req.principal.accountId;
  const used = (...groups: Hit[][]): MatchedStatement[] => {
    const out: MatchedStatement[] = [];
    for (const group of groups) for (const h of group) out.push(h.m);
    return out;
  };

  if (sameAccount) {
    // The root user of an account may do anything in it that nothing explicitly denies.
    // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html
    if (req.principal.kind === 'root') return { decision: 'allowed', matched: [], reason: 'allow:root' };
    // A resource policy that names the principal (or everyone) grants by itself.
    const direct = resource.filter((h) => h.principal !== 'account');
    if (direct.length > 0) {
      const byUserArn = direct.some((h) => h.principal === 'arn' && req.principal.kind === 'user');
      const bySession = direct.some((h) => h.principal === 'session');
      const boundaryPass = boundaryOk || byUserArn || bySession;
      const sessionPass = sessionOk || bySession;
      if (boundaryPass && sessionPass) return { decision: 'allowed', matched: used(direct, boundary, session), reason: 'allow:resource' };
    }
    if (identitySide) return { decision: 'allowed', matched: used(identity, resource, boundary, session), reason: 'allow:identity' };
  } else if (identitySide && resource.length > 0) {
    return { decision: 'allowed', matched: used(identity, resource, boundary, session), reason: 'allow:cross-account' };
  }

  let reason = 'no-allow';
  if (identity.length > 0 || resource.length > 0) {
    if (!boundaryOk) reason = 'implicit-deny:boundary';
    else if (!sessionOk) reason = 'implicit-deny:session';
    else if (!sameAccount) reason = identity.length === 0 ? 'implicit-deny:identity' : 'implicit-deny:resource';
  }
  return { decision: 'implicitDeny', matched: [], reason };
}
