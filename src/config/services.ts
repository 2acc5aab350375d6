/**
 * The data-plane part of the config: defaults for each service, and the checks of its routes
 * and resource-based policies (compiled here once, so a bad rule stops a start or a reload with
 * a message naming it, never a request).
 */
import { PortcullisError } from '../core/errors.js';
import { ServiceRoutes } from '../gateway/routes.js';
import { parsePolicy } from '../iam/document.js';
import type { UpstreamService } from './schema.js';

type Json = { [k: string]: unknown };

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A service entry with its defaults; a policy given as an object is kept as its JSON text. */
export function serviceDefaults(svc: Json): Json {
  const out: Json = { protocol: 'json1.1', maxBodyBytes: 10 * 1024 * 1024, timeoutMs: 30_000, account: undefined, routes: [], resourcePolicies: [], resourceTags: undefined, ...svc };
  if (Array.isArray(out['resourcePolicies'])) {
    out['resourcePolicies'] = out['resourcePolicies'].map((p: unknown) =>
      isObject(p) && isObject(p['policy']) ? { ...p, policy: JSON.stringify(p['policy']) } : p);
  }
  return out;
}

/** Checks routes and resource policies; `check` throws the config error. */
export function validateServiceRules(svc: UpstreamService, at: string, check: (cond: boolean, message: string) => void): void {
  check(svc.account === undefined || (typeof svc.account === 'string' && /^\d{12}$/.test(svc.account)), `\`${at}.account\` must be a 12-digit account id`);
  check(Array.isArray(svc.routes), `\`${at}.routes\` must be a list`);
  const ruleKeys = ['match', 'action', 'resource', 'conditions', 'requestTags'];
  for (const [i, r] of svc.routes.entries()) {
    check(isObject(r) && typeof r.match === 'string', `\`${at}.routes[${i}]\` must be an object with a \`match\``);
    for (const k of Object.keys(r)) check(ruleKeys.includes(k), `unknown setting \`${at}.routes[${i}].${k}\``);
    for (const k of ['action', 'resource', 'requestTags'] as const) check(r[k] === undefined || typeof r[k] === 'string', `\`${at}.routes[${i}].${k}\` must be a string`);
    check(r.conditions === undefined || (isObject(r.conditions) && Object.values(r.conditions).every((v) => typeof v === 'string')),
      `\`${at}.routes[${i}].conditions\` must map condition keys to templates`);
  }
  try {
    new ServiceRoutes(svc);
  } catch (e) {
    check(false, `\`${at}.routes\`: ${(e as Error).message}`);
  }
  check(svc.resourceTags === undefined || (typeof svc.resourceTags === 'string' && /^\/[\x21-\x7e]*$/.test(svc.resourceTags) && !svc.resourceTags.includes('?')),
    `\`${at}.resourceTags\` must be a path on the upstream, such as \`/_portcullis/resource-tags\``);
  check(Array.isArray(svc.resourcePolicies), `\`${at}.resourcePolicies\` must be a list`);
  for (const [i, p] of svc.resourcePolicies.entries()) {
    const where = `${at}.resourcePolicies[${i}]`;
    check(isObject(p) && typeof p.resource === 'string' && p.resource.startsWith('arn:') && typeof p.policy === 'string',
      `\`${where}\` must be {resource: an ARN pattern, policy: a policy document}`);
    try {
      parsePolicy(p.policy, 'resource');
    } catch (e) {
      check(false, `\`${where}.policy\`: ${e instanceof PortcullisError ? e.message : 'not a policy document'}`);
    }
  }
}
