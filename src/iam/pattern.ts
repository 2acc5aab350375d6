/**
 * Patterns as policies write them: text, the wildcards `*` and `?`, and policy variables
 * `${aws:username}`, `${aws:PrincipalTag/team, 'none'}`, `${*}`, `${?}`, `${$}`.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
 *
 * A pattern is parsed once into tokens. A variable's value is always literal text: a `*` in a
 * user's tag never acts as a wildcard, and `${*}` is how a policy writes a literal `*`.
 */
import type { RequestContext } from './context.js';

export type Token =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'star' }
  | { readonly kind: 'one' }
  | { readonly kind: 'var'; readonly key: string; readonly fallback: string | undefined };

const VARIABLE = /\$\{([^}]*)\}/g;
const SPECIAL: Record<string, string> = { '*': '*', '?': '?', $: '$' };

/**
 * Splits a policy string into tokens. `variables`: honour `${…}` (Version 2012-10-17 only);
 * `wildcards`: `*` and `?` are wildcards (Like operators, Action, Resource).
 */
export function tokenize(s: string, variables: boolean, wildcards: boolean): Token[] {
  const out: Token[] = [];
  const pushText = (text: string) => {
    if (text === '') return;
    if (!wildcards) return void out.push({ kind: 'text', text });
    let buf = '';
    for (const ch of text) {
      if (ch === '*' || ch === '?') {
        if (buf) out.push({ kind: 'text', text: buf });
        buf = '';
        out.push({ kind: ch === '*' ? 'star' : 'one' });
      } else buf += ch;
    }
    if (buf) out.push({ kind: 'text', text: buf });
  };
  if (!variables || !s.includes('${')) {
    pushText(s);
    return out;
  }
  let last = 0;
  for (const m of s.matchAll(VARIABLE)) {
    pushText(s.slice(last, m.index));
    last = m.index + m[0].length;
    const inner = m[1]!.trim();
    // Own keys only: `${constructor}` is a variable (of no key), not Object.prototype.constructor.
    const special = Object.hasOwn(SPECIAL, inner) ? SPECIAL[inner] : undefined;
    if (special !== undefined) {
      out.push({ kind: 'text', text: special });
      continue;
    }
    const comma = /^([^,]+?)\s*,\s*'([^']*)'$/.exec(inner);
    out.push(comma ? { kind: 'var', key: comma[1]!, fallback: comma[2]! } : { kind: 'var', key: inner, fallback: undefined });
  }
  pushText(s.slice(last));
  return out;
}

export function hasVariables(tokens: readonly Token[]): boolean {
  return tokens.some((t) => t.kind === 'var');
}

/**
 * Replaces variables with their values from the request. Undefined when a variable's key is
 * absent (and has no default) or holds several values: the element then cannot match.
 */
export function resolveTokens(tokens: readonly Token[], ctx: RequestContext): Token[] | undefined {
  if (!hasVariables(tokens)) return tokens as Token[];
  const out: Token[] = [];
  for (const t of tokens) {
    if (t.kind !== 'var') {
      out.push(t);
      continue;
    }
    const values = ctx.get(t.key);
    if (values !== undefined && values.length === 1) out.push({ kind: 'text', text: values[0]! });
    else if ((values === undefined || values.length === 0) && t.fallback !== undefined) out.push({ kind: 'text', text: t.fallback });
    else return undefined;
  }
  return out;
}

/** The tokens as plain text (wildcards written as themselves). */
export function tokensText(tokens: readonly Token[]): string {
  let s = '';
  for (const t of tokens) s += t.kind === 'text' ? t.text : t.kind === 'star' ? '*' : t.kind === 'one' ? '?' : '';
  return s;
}

/**
 * A matcher over a whole string: `*` spans anything, `?` one character.
 *
 * No RegExp: a backtracking engine takes time exponential in the number of `*` on a value that
 * almost matches (`a*a*a*a*a*a*a*a*c` against 64 `a`s blocked the event loop for 40 s), and a
 * session policy's patterns and most values come from callers. `glob` is O(pattern × value).
 */
export function compileTokens(tokens: readonly Token[], ignoreCase: boolean): (value: string) => boolean {
  if (tokens.every((t) => t.kind === 'text')) {
    const text = tokensText(tokens);
    if (!ignoreCase) return (v) => v === text;
    const lower = text.toLowerCase();
    return (v) => v.toLowerCase() === lower;
  }
  if (tokens.length === 1 && tokens[0]!.kind === 'star') return () => true;
  const pat = codes(tokens, ignoreCase);
  if (!ignoreCase) return (v) => glob(pat, 0, pat.length, v, 0, v.length);
  return (v) => {
    const lower = v.toLowerCase();
    return glob(pat, 0, pat.length, lower, 0, lower.length);
  };
}

/**
 * A matcher for ARN patterns: each of the first five colon-separated parts is matched on its
 * own (a wildcard there never crosses a `:`), the resource part may hold colons and slashes.
 * A pattern that is not an ARN (`*`) matches as a plain wildcard.
 */
export function compileArnTokens(tokens: readonly Token[], ignoreCase = false, resource = false): (value: string) => boolean {
  const first = tokens[0];
  if (first === undefined || first.kind !== 'text' || !first.text.startsWith('arn:')) return compileTokens(tokens, ignoreCase);
  // In a Resource element a `*` that ends the pattern also spans the colons after it
  // (`arn:aws:sqs:us-east-2:*` covers every queue there); in ArnLike it stays in its part.
  const openEnd = resource && tokens[tokens.length - 1]!.kind === 'star';
  const pat = codes(tokens, ignoreCase);
  const colons = pat.filter((c) => c === COLON).length;
  if (colons < 5 && !openEnd) return () => false; // not a complete ARN pattern
  return (value) => {
    const v = ignoreCase ? value.toLowerCase() : value;
    let ps = 0;
    let vs = 0;
    for (let part = 0; part < 5; part++) {
      const pe = pat.indexOf(COLON, ps);
      const ve = v.indexOf(':', vs);
      if (pe < 0) {
        // Open end with fewer than five colons: the wildcards before the last `*` stay within
        // this part, the last spans the rest. Nothing of the pattern but that `*` can take a
        // colon, so the pattern's part must match a prefix of the value's part: glob with the
        // trailing `*` on the part says exactly that.
        return glob(pat, ps, pat.length, v, vs, ve < 0 ? v.length : ve);
      }
      if (ve < 0 || !glob(pat, ps, pe, v, vs, ve)) return false;
      ps = pe + 1;
      vs = ve + 1;
    }
    return glob(pat, ps, pat.length, v, vs, v.length);
  };
}

const COLON = 0x3a;
const STAR = -1;
const ONE = -2;

/** Resolved tokens as code units, wildcards as negative codes. */
function codes(tokens: readonly Token[], ignoreCase: boolean): number[] {
  const out: number[] = [];
  for (const t of tokens) {
    if (t.kind === 'star') out.push(STAR);
    else if (t.kind === 'one') out.push(ONE);
    else if (t.kind === 'text') {
      const text = ignoreCase ? t.text.toLowerCase() : t.text;
      for (let i = 0; i < text.length; i++) out.push(text.charCodeAt(i));
    }
  }
  return out;
}

/** Glob matching of `value[vs, ve)` against `pat[ps, pe)`, backtracking to the last `*` only. */
function glob(pat: readonly number[], ps: number, pe: number, value: string, vs: number, ve: number): boolean {
  let p = ps;
  let v = vs;
  let starP = -1;
  let starV = -1;
  while (v < ve) {
    const c = p < pe ? pat[p]! : 0;
    if (p < pe && (c === ONE || c === value.charCodeAt(v))) {
      p++;
      v++;
    } else if (p < pe && c === STAR) {
      starP = p++;
      starV = v;
    } else if (starP >= 0) {
      p = starP + 1;
      v = ++starV;
    } else return false;
  }
  while (p < pe && pat[p] === STAR) p++;
  return p === pe;
}

/**
 * Matches a value against tokens whose variables were just resolved, without building a
 * RegExp (which would cost more than the match). `arn`: the first five colon-separated parts
 * are matched one by one, as compileArnTokens does.
 */
export function matchResolved(tokens: readonly Token[], value: string, ignoreCase: boolean, arn: boolean, resource = false): boolean {
  const pat = codes(tokens, ignoreCase);
  const v = ignoreCase ? value.toLowerCase() : value;
  if (!arn || pat.length < 4 || String.fromCharCode(...pat.slice(0, 4).map((c) => Math.max(c, 0))) !== 'arn:') {
    return glob(pat, 0, pat.length, v, 0, v.length);
  }
  let ps = 0;
  let vs = 0;
  for (let part = 0; part < 5; part++) {
    const pe = pat.indexOf(0x3a, ps);
    // A Resource pattern that ends in `*` before its last colon: the rest is open (see compileArnTokens).
    if (pe < 0 && resource && pat[pat.length - 1] === STAR) return glob(pat, ps, pat.length, v, vs, v.length);
    const ve = v.indexOf(':', vs);
    if (pe < 0 || ve < 0) return false;
    if (!glob(pat, ps, pe, v, vs, ve)) return false;
    ps = pe + 1;
    vs = ve + 1;
  }
  return glob(pat, ps, pat.length, v, vs, v.length);
}
