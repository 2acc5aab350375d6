/**
 * Condition operators: every family (String, Numeric, Date, Bool, Binary, IpAddress, Arn, Null),
 * the `...IfExists` suffix and the `ForAllValues:` / `ForAnyValue:` set operators.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
 *
 * The rules, all from those pages:
 * - keys within one operator, and operators within one Condition: AND; values of one key: OR;
 *   a negated operator (StringNotEquals…) is true when no value matches (NOR);
 * - a key absent from the request: false, except negated operators (true), `...IfExists`
 *   (true), `ForAllValues:` (true, vacuously) and `ForAnyValue:` (false); `Null` tests presence;
 * - `ForAllValues:` every request value must satisfy the operator; `ForAnyValue:` at least one.
 */
import type { RequestContext } from './context.js';
import { compileCidr } from './ip.js';
import { compileArnTokens, compileTokens, matchResolved, resolveTokens, tokenize, tokensText, type Token } from './pattern.js';

type Family = 'string' | 'numeric' | 'date' | 'bool' | 'binary' | 'ip' | 'arn' | 'null';

interface OperatorInfo {
  readonly family: Family;
  /** The negated operators are true when no policy value matches. */
  readonly negated: boolean;
  /** Compares one request value with one policy value (the positive form). */
  readonly compare: Comparison;
  /** Policy variables are honoured in this operator's values. */
  readonly variables: boolean;
}

type Comparison = 'eq' | 'eqi' | 'like' | 'lt' | 'le' | 'gt' | 'ge' | 'ip' | 'arnlike' | 'null';

function op(family: Family, compare: Comparison, negated = false): OperatorInfo {
  return { family, compare, negated, variables: family === 'string' || family === 'arn' };
}

const OPERATORS: Readonly<Record<string, OperatorInfo>> = {
  StringEquals: op('string', 'eq'),
  StringNotEquals: op('string', 'eq', true),
  StringEqualsIgnoreCase: op('string', 'eqi'),
  StringNotEqualsIgnoreCase: op('string', 'eqi', true),
  StringLike: op('string', 'like'),
  StringNotLike: op('string', 'like', true),
  NumericEquals: op('numeric', 'eq'),
  NumericNotEquals: op('numeric', 'eq', true),
  NumericLessThan: op('numeric', 'lt'),
  NumericLessThanEquals: op('numeric', 'le'),
  NumericGreaterThan: op('numeric', 'gt'),
  NumericGreaterThanEquals: op('numeric', 'ge'),
  DateEquals: op('date', 'eq'),
  DateNotEquals: op('date', 'eq', true),
  DateLessThan: op('date', 'lt'),
  DateLessThanEquals: op('date', 'le'),
  DateGreaterThan: op('date', 'gt'),
  DateGreaterThanEquals: op('date', 'ge'),
  Bool: op('bool', 'eqi'),
  BinaryEquals: op('binary', 'eq'),
  IpAddress: op('ip', 'ip'),
  NotIpAddress: op('ip', 'ip', true),
  ArnEquals: op('arn', 'arnlike'),
  ArnLike: op('arn', 'arnlike'),
  ArnNotEquals: op('arn', 'arnlike', true),
  ArnNotLike: op('arn', 'arnlike', true),
  Null: op('null', 'null'),
};

export const CONDITION_OPERATORS: ReadonlySet<string> = new Set(Object.keys(OPERATORS));

export interface OperatorName {
  readonly set: 'ForAllValues' | 'ForAnyValue' | undefined;
  readonly base: string;
  readonly ifExists: boolean;
}

/** `ForAnyValue:StringLikeIfExists` -> { set: 'ForAnyValue', base: 'StringLike', ifExists: true } */
export function splitOperator(name: string): OperatorName | undefined {
  const m = /^(?:(ForAllValues|ForAnyValue):)?([A-Za-z]+?)(IfExists)?$/.exec(name);
  if (!m) return undefined;
  return { set: m[1] as OperatorName['set'], base: m[2]!, ifExists: m[3] !== undefined };
}

/** A parsed number (integers and decimals), or NaN. */
function number(s: string): number {
  return /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/.test(s) ? Number(s) : NaN;
}

/** ISO 8601 date/time or epoch seconds, as milliseconds; NaN when neither. */
function date(s: string): number {
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  // W3C's profile of ISO 8601: YYYY, YYYY-MM, YYYY-MM-DD, then optionally a time and zone.
  if (!/^\d{4}(-\d{2}(-\d{2}([T ].*)?)?)?$/.test(s)) return NaN;
  return Date.parse(/^\d{4}$/.test(s) ? `${s}-01-01T00:00:00Z` : /^\d{4}-\d{2}$/.test(s) ? `${s}-01T00:00:00Z` : s);
}

function binary(s: string): string | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return undefined;
  return Buffer.from(s, 'base64').toString('hex');
}

/**
 * A predicate over one request value, built from one policy value (already resolved).
 * `once`: built for a single evaluation (its variables were just resolved), so wildcard
 * patterns match directly instead of paying for a RegExp.
 */
function valuePredicate(info: OperatorInfo, policyValue: string, tokens: readonly Token[], once = false): (v: string) => boolean {
  switch (info.family) {
    case 'string':
      if (info.compare === 'like') return once ? (v) => matchResolved(tokens, v, false, false) : compileTokens(tokens, false);
      if (info.compare === 'eqi') {
        const p = tokensText(tokens).toLowerCase();
        return (v) => v.toLowerCase() === p;
      }
      return compileTokens(tokens, false);
    case 'arn':
      return once ? (v) => matchResolved(tokens, v, false, true) : compileArnTokens(tokens, false);
    case 'bool': {
      const p = policyValue.toLowerCase();
      return (v) => v.toLowerCase() === p;
    }
    case 'numeric':
    case 'date': {
      const parse = info.family === 'numeric' ? number : date;
      const p = parse(policyValue);
      if (Number.isNaN(p)) return () => false;
      const cmp = info.compare;
      return (v) => {
        const x = parse(v);
        if (Number.isNaN(x)) return false;
        return cmp === 'eq' ? x === p : cmp === 'lt' ? x < p : cmp === 'le' ? x <= p : cmp === 'gt' ? x > p : x >= p;
      };
    }
    case 'binary': {
      const p = binary(policyValue);
      return (v) => p !== undefined && binary(v) === p;
    }
    case 'ip':
      return compileCidr(policyValue) ?? (() => false);
    case 'null':
      return () => false; // handled before values are compared
  }
}

/** One `operator: { key: values }` entry, compiled. */
export interface CompiledCondition {
  readonly operator: string;
  readonly key: string;
  /** True when the entry holds for this request. */
  test(ctx: RequestContext): boolean;
}

export function compileCondition(operator: string, key: string, values: readonly string[], variables: boolean): CompiledCondition {
  const name = splitOperator(operator);
  const info = name === undefined || !Object.hasOwn(OPERATORS, name.base) ? undefined : OPERATORS[name.base];
  if (name === undefined || info === undefined) throw new Error(`unknown condition operator \`${operator}\``);
  const useVariables = variables && info.variables;
  const parsed = values.map((v) => ({ raw: v, tokens: tokenize(v, useVariables, info.compare === 'like' || info.family === 'arn') }));
  const fixed = parsed.every((p) => !p.tokens.some((t) => t.kind === 'var'));
  const staticPredicates = fixed ? parsed.map((p) => valuePredicate(info, p.raw, p.tokens)) : undefined;

  const predicates = (ctx: RequestContext): Array<(v: string) => boolean> => {
    if (staticPredicates) return staticPredicates;
    const out: Array<(v: string) => boolean> = [];
    for (const p of parsed) {
      const resolved = resolveTokens(p.tokens, ctx);
      // A variable with no value makes that policy value match nothing.
      if (resolved !== undefined) out.push(valuePredicate(info, tokensText(resolved), resolved, true));
    }
    return out;
  };

  const test = (ctx: RequestContext): boolean => {
    const actual = ctx.get(key);
    // An empty string, like an empty list, is no value at all (a null data set).
    const empty = actual === undefined || actual.every((v) => v === '');
    if (info.family === 'null') {
      const present = !empty;
      return values.some((v) => (v.toLowerCase() === 'true' ? !present : v.toLowerCase() === 'false' ? present : false));
    }
    const absent = actual === undefined || (name.set !== undefined && empty);
    if (absent) {
      if (name.ifExists) return true;
      if (name.set === 'ForAllValues') return true;
      if (name.set === 'ForAnyValue') return false;
      return info.negated;
    }
    const preds = predicates(ctx);
    const matchesPolicy = (v: string) => preds.some((p) => p(v));
    // For a request value, does the operator hold? Positive: some policy value matches;
    // negated: none does.
    const holds = (v: string) => (info.negated ? !matchesPolicy(v) : matchesPolicy(v));
    if (name.set === 'ForAllValues') return actual.every(holds);
    if (name.set === 'ForAnyValue') return actual.some(holds);
    // No set operator: a negated operator holds when no request value matches any policy value.
    return info.negated ? !actual.some(matchesPolicy) : actual.some(matchesPolicy);
  };

  return { operator, key, test };
}
