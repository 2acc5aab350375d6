/**
 * The IAM policy grammar: a JSON document in, a validated typed value out, or a
 * MalformedPolicyDocument error that says what is wrong and where.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html
 */
import { PortcullisError } from '../core/errors.js';
import { CONDITION_OPERATORS, splitOperator } from './conditions.js';

export type PolicyVersion = '2012-10-17' | '2008-10-17';

/** Where a policy is used decides which elements it must and must not have. */
export type PolicyKind = 'identity' | 'resource' | 'trust';

export interface PrincipalSpec {
  /** `"Principal": "*"` or `{"AWS": "*"}` */
  readonly any: boolean;
  readonly aws: readonly string[];
  readonly service: readonly string[];
  readonly federated: readonly string[];
  readonly canonicalUser: readonly string[];
}

export interface ConditionEntry {
  /** As written, e.g. `ForAnyValue:StringLikeIfExists`. */
  readonly operator: string;
  readonly key: string;
  readonly values: readonly string[];
}

export interface Statement {
  readonly sid: string | undefined;
  readonly effect: 'Allow' | 'Deny';
  readonly principal: PrincipalSpec | undefined;
  readonly notPrincipal: PrincipalSpec | undefined;
  readonly action: readonly string[] | undefined;
  readonly notAction: readonly string[] | undefined;
  readonly resource: readonly string[] | undefined;
  readonly notResource: readonly string[] | undefined;
  readonly conditions: readonly ConditionEntry[];
}

export interface PolicyDocument {
  readonly version: PolicyVersion;
  readonly id: string | undefined;
  readonly statements: readonly Statement[];
}

function malformed(message: string): never {
  throw new PortcullisError('MalformedPolicyDocument', message);
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isObject(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A string or a non-empty list of strings. */
function stringList(v: Json | undefined, what: string): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string')) return v as string[];
  return malformed(`${what} must be a string or a non-empty list of strings`);
}

const STATEMENT_FIELDS = new Set(['Sid', 'Effect', 'Principal', 'NotPrincipal', 'Action', 'NotAction', 'Resource', 'NotResource', 'Condition']);
const PRINCIPAL_TYPES: Record<string, keyof Omit<PrincipalSpec, 'any'>> = {
  AWS: 'aws',
  Service: 'service',
  Federated: 'federated',
  CanonicalUser: 'canonicalUser',
};

function principalSpec(v: Json | undefined, field: string): PrincipalSpec {
  const empty = { any: false, aws: [] as string[], service: [] as string[], federated: [] as string[], canonicalUser: [] as string[] };
  if (v === '*') return { ...empty, any: true };
  if (!isObject(v) || Object.keys(v).length === 0) return malformed(`${field} must be "*" or an object such as {"AWS": "arn:aws:iam::123456789012:root"}`);
  const spec = { ...empty };
  for (const [type, value] of Object.entries(v)) {
    // Own keys only: `constructor` or `__proto__` is not a principal type.
    const slot = Object.hasOwn(PRINCIPAL_TYPES, type) ? PRINCIPAL_TYPES[type] : undefined;
    if (slot === undefined) malformed(`Invalid principal type \`${type}\` in ${field}`);
    const list = stringList(value, `${field}.${type}`);
    if (slot === 'aws') {
      for (const p of list) {
        if (p === '*') spec.any = true;
        // Only `*` alone means everyone: a wildcard inside an ARN names no one.
        else if ((!/^\d{12}$/.test(p) && !/^arn:[\w-]+:(iam|sts)::\d{12}:.+$/.test(p)) || /[*?]/.test(p)) malformed(`Invalid principal in policy: "AWS":"${p}"`);
      }
    }
    spec[slot] = list;
  }
  return spec;
}

function conditions(v: Json | undefined): ConditionEntry[] {
  if (v === undefined) return [];
  if (!isObject(v)) return malformed('Condition must be an object of operators');
  const out: ConditionEntry[] = [];
  for (const [operator, block] of Object.entries(v)) {
    const parsed = splitOperator(operator);
    if (parsed === undefined || !CONDITION_OPERATORS.has(parsed.base)) malformed(`Invalid Condition type : ${operator}`);
    if (parsed.base === 'Null' && parsed.ifExists) malformed(`Invalid Condition type : ${operator}`);
    if (!isObject(block) || Object.keys(block).length === 0) malformed(`Condition ${operator} must map condition keys to values`);
    for (const [key, value] of Object.entries(block)) {
      // The prefix is a service (`aws`, `iam`) or an identity provider (`accounts.example.com/path`).
      if (!/^[^\s:]+:[^\s]+$/.test(key)) malformed(`Condition key \`${key}\` is not of the form prefix:name`);
      const values: string[] = [];
      const list = Array.isArray(value) ? value : [value];
      if (list.length === 0) malformed(`Condition ${operator} on ${key} has no value`);
      for (const item of list) {
        // Numbers and booleans are accepted unquoted, as IAM does, and compared as their text.
        if (typeof item === 'string') values.push(item);
        else if (typeof item === 'number' || typeof item === 'boolean') values.push(String(item));
        else malformed(`Condition ${operator} on ${key} must have string values`);
      }
      out.push({ operator, key, values });
    }
  }
  return out;
}

function checkActions(list: readonly string[], field: string): void {
  for (const a of list) {
    if (a === '*') continue;
    if (!/^[a-zA-Z0-9-]+:[a-zA-Z0-9*?_-]*$/.test(a)) malformed(`${field} \`${a}\`: Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.`);
  }
}

function checkResources(list: readonly string[], field: string): void {
  for (const r of list) {
    if (r === '*') continue;
    // Six parts, or fewer when a final `*` stands for the rest (`arn:aws:sqs:us-east-2:*`).
    if (!r.startsWith('arn:') || (r.split(':').length < 6 && !r.endsWith('*'))) malformed(`${field} ${r} must be in ARN format or "*".`);
  }
}

function statement(raw: Json, kind: PolicyKind, index: number): Statement {
  if (!isObject(raw)) return malformed(`Statement ${index + 1} must be an object`);
  for (const k of Object.keys(raw)) if (!STATEMENT_FIELDS.has(k)) malformed(`Statement ${index + 1}: unknown field ${k}`);
  const sid = raw['Sid'];
  if (sid !== undefined && typeof sid !== 'string') malformed('Sid must be a string');
  if (kind === 'identity' && typeof sid === 'string' && !/^[A-Za-z0-9]*$/.test(sid)) malformed('Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*');
  const effect = raw['Effect'];
  if (effect !== 'Allow' && effect !== 'Deny') malformed(`Invalid effect: ${typeof effect === 'string' ? effect : JSON.stringify(effect ?? null)}`);
  const has = (k: string) => raw[k] !== undefined;
  if (has('Action') === has('NotAction')) malformed(has('Action') ? 'A statement has both Action and NotAction' : 'Policy statement must contain actions.');
  if (has('Resource') && has('NotResource')) malformed('A statement has both Resource and NotResource');
  if (has('Principal') && has('NotPrincipal')) malformed('A statement has both Principal and NotPrincipal');
  if (kind === 'identity') {
    if (has('Principal') || has('NotPrincipal')) malformed('Policy document should not specify a principal.');
    if (!has('Resource') && !has('NotResource')) malformed('Policy statement must contain resources.');
  } else {
    if (!has('Principal') && !has('NotPrincipal')) malformed('Missing required field Principal');
    if (kind === 'resource' && !has('Resource') && !has('NotResource')) malformed('Policy statement must contain resources.');
    if (kind === 'trust' && (has('Resource') || has('NotResource'))) malformed('Has prohibited field Resource');
  }
  const action = has('Action') ? stringList(raw['Action'], 'Action') : undefined;
  const notAction = has('NotAction') ? stringList(raw['NotAction'], 'NotAction') : undefined;
  checkActions(action ?? notAction!, action ? 'Action' : 'NotAction');
  const resource = has('Resource') ? stringList(raw['Resource'], 'Resource') : undefined;
  const notResource = has('NotResource') ? stringList(raw['NotResource'], 'NotResource') : undefined;
  if (resource) checkResources(resource, 'Resource');
  if (notResource) checkResources(notResource, 'NotResource');
  return {
    sid,
    effect,
    principal: has('Principal') ? principalSpec(raw['Principal'], 'Principal') : undefined,
    notPrincipal: has('NotPrincipal') ? principalSpec(raw['NotPrincipal'], 'NotPrincipal') : undefined,
    action,
    notAction,
    resource,
    notResource,
    conditions: conditions(raw['Condition']),
  };
}

/**
 * The first key that appears twice in one object of a JSON text already known to be valid, or
 * undefined. A small scanner: strings (with escapes) and the nesting of objects and arrays.
 */
function repeatedKey(text: string): string | undefined {
  const stack: Array<Set<string> | null> = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const top = stack[stack.length - 1];
      if (expectKey && top) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.has(key)) return key;
        top.add(key);
      }
      expectKey = false;
      i = j;
    } else if (c === '{') {
      stack.push(new Set());
      expectKey = true;
    } else if (c === '[') {
      stack.push(null);
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',') {
      expectKey = stack[stack.length - 1] !== null && stack.length > 0;
    }
  }
  return undefined;
}

/** Parses and validates a policy document given as JSON text. */
export function parsePolicy(text: string, kind: PolicyKind): PolicyDocument {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return malformed('Syntax errors in policy.');
  }
  // JSON.parse keeps the last of repeated keys; IAM refuses a document that repeats one.
  const repeated = repeatedKey(text);
  if (repeated !== undefined) malformed(`The policy repeats the key \`${repeated.slice(0, 64)}\` in one object`);
  if (!isObject(raw)) return malformed('The policy document must be a JSON object');
  for (const k of Object.keys(raw)) if (!['Version', 'Id', 'Statement'].includes(k)) malformed(`Unknown field ${k}`);
  const version = raw['Version'] ?? '2008-10-17';
  if (version !== '2012-10-17' && version !== '2008-10-17') malformed(`The policy must contain a valid version string: 2012-10-17 or 2008-10-17, not ${JSON.stringify(version)}`);
  const id = raw['Id'];
  if (id !== undefined && typeof id !== 'string') malformed('Id must be a string');
  if (id !== undefined && kind === 'identity') malformed('Id is not allowed in an identity-based policy');
  const st = raw['Statement'];
  if (st === undefined) malformed('Missing required field Statement');
  const list = Array.isArray(st) ? st : [st];
  if (list.length === 0) malformed('Statement must not be empty');
  const statements = list.map((s, i) => statement(s, kind, i));
  const sids = statements.map((s) => s.sid).filter((s): s is string => s !== undefined && s !== '');
  if (new Set(sids).size !== sids.length) malformed('Statement IDs (SID) in a single policy must be unique.');
  return { version, id, statements };
}

/** The size IAM counts against its quotas: every character but white space. */
export function policySize(text: string): number {
  return text.replace(/\s/g, '').length;
}
