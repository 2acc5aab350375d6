/**
 * How a request to an upstream service becomes an IAM question: which action, on which
 * resources, with which request values as condition keys. The rules come from the service's
 * `routes` in the config; see docs/data-plane.md.
 *
 * Templates hold `{source.name}` placeholders:
 * - `{region}`: the region the request was signed for; `{account}`: the account that owns the
 *   service's resources (the service's `account`, or else the caller's);
 * - `{path.NAME}`: a parameter of a REST path template (`/pipelines/{pipelineId}`);
 * - `{query.NAME}`: a parameter of the query string, or of the form body (query protocol);
 * - `{header.NAME}`: a request header;
 * - `{body.a.b}`: a field of the JSON body; an array gives one value per element.
 */
import type { RouteRule, UpstreamService } from '../config/schema.js';
import { PortcullisError } from '../core/errors.js';
import type { HeaderMap } from '../sigv4/canonicalHeaders.js';

/** The values a template may read. */
export interface RequestValues {
  readonly region: string;
  readonly account: string;
  readonly path: Readonly<Record<string, string>>;
  readonly query: ReadonlyMap<string, string>;
  /** Query or form parameters sent more than once: a template may not read them. */
  readonly repeated: ReadonlySet<string>;
  readonly headers: HeaderMap;
  /** The parsed JSON body, when a rule of the route reads it. */
  readonly body: unknown;
}

type Part = { readonly text: string } | { readonly source: 'region' | 'account' | 'path' | 'query' | 'header' | 'body'; readonly name: readonly string[] };

const PLACEHOLDER = /\{([a-z]+)(?:\.([^{}]+))?\}/g;

/** Splits a template into literal text and placeholders; throws on an unknown source. */
export function parseTemplate(template: string): Part[] {
  const parts: Part[] = [];
  let last = 0;
  for (const m of template.matchAll(PLACEHOLDER)) {
    if (m.index > last) parts.push({ text: template.slice(last, m.index) });
    const source = m[1]!;
    const name = m[2];
    if (source === 'region' || source === 'account') {
      if (name !== undefined) throw new TypeError(`\`{${source}}\` takes no name`);
      parts.push({ source, name: [] });
    } else if (source === 'path' || source === 'query' || source === 'header' || source === 'body') {
      if (name === undefined || name === '') throw new TypeError(`\`{${source}.NAME}\` needs a name`);
      parts.push({ source, name: source === 'body' ? name.split('.') : [source === 'header' ? name.toLowerCase() : name] });
    } else {
      throw new TypeError(`unknown placeholder \`{${m[0].slice(1, -1)}}\`: use region, account, path.X, query.X, header.X or body.X`);
    }
    last = m.index + m[0].length;
  }
  if (last < template.length) parts.push({ text: template.slice(last) });
  if (parts.some((p) => 'text' in p && /[{}]/.test(p.text))) throw new TypeError(`unbalanced braces in \`${template}\``);
  return parts;
}

/** The field at `names` of a parsed JSON value, or undefined. */
function walk(value: unknown, names: readonly string[]): unknown {
  let at = value;
  for (const key of names) {
    if (at === null || typeof at !== 'object' || Array.isArray(at) || !Object.hasOwn(at, key)) return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return at;
}

/** The values of one placeholder: none when the request lacks it. */
function valuesOf(part: Exclude<Part, { text: string }>, v: RequestValues): string[] {
  switch (part.source) {
    case 'region':
      return [v.region];
    case 'account':
      return [v.account];
    case 'path': {
      const x = v.path[part.name[0]!];
      return x === undefined ? [] : [x];
    }
    case 'query': {
      // Which of two equal names counts differs between frameworks: never authorize on a guess.
      if (v.repeated.has(part.name[0]!)) throw new PortcullisError('InvalidParameterValue', `The parameter \`${part.name[0]!.slice(0, 64)}\` appears more than once.`);
      const x = v.query.get(part.name[0]!);
      return x === undefined ? [] : [x];
    }
    case 'header': {
      const x = v.headers.sole(part.name[0]!);
      if (x === null) throw new PortcullisError('InvalidParameterValue', `The header \`${part.name[0]!.slice(0, 64)}\` appears more than once.`);
      return x === undefined ? [] : [x];
    }
    case 'body': {
      const at = walk(v.body, part.name);
      const scalars = Array.isArray(at) ? at : [at];
      return scalars.filter((x): x is string | number | boolean => ['string', 'number', 'boolean'].includes(typeof x)).map(String);
    }
  }
}

/** Most values one template may expand to (a body array of resource ids). */
const MAX_EXPANSION = 100;

/**
 * Every string the template gives for this request (several when a placeholder reads an array),
 * or undefined when a placeholder has no value.
 */
export function expand(parts: readonly Part[], v: RequestValues): string[] | undefined {
  let out = [''];
  for (const part of parts) {
    if ('text' in part) {
      out = out.map((s) => s + part.text);
      continue;
    }
    const values = valuesOf(part, v);
    if (values.length === 0) return undefined;
    out = out.flatMap((s) => values.map((x) => s + x));
    if (out.length > MAX_EXPANSION) throw new PortcullisError('ValidationError', `The request names more than ${MAX_EXPANSION} resources.`);
  }
  return out;
}

/** One compiled route rule. */
export interface Route {
  readonly rule: RouteRule;
  /** REST only: the method and the path pattern. */
  readonly method: string | undefined;
  readonly pathPattern: RegExp | undefined;
  readonly pathNames: readonly string[];
  readonly action: string;
  readonly resource: Part[];
  readonly conditions: ReadonlyArray<readonly [string, Part[]]>;
  readonly requestTags: Part[] | undefined;
  /** Does any template read the JSON body? */
  readonly readsBody: boolean;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
}

/** `/pipelines/{pipelineId}` (one segment) or `/objects/{key+}` (the rest of the path). */
function compilePath(template: string): { pattern: RegExp; names: string[] } {
  const names: string[] = [];
  let source = '';
  let last = 0;
  for (const m of template.matchAll(/\{([A-Za-z0-9_]+)(\+?)\}/g)) {
    source += escapeRegExp(template.slice(last, m.index));
    names.push(m[1]!);
    source += m[2] === '+' ? '(.+)' : '([^/]+)';
    last = m.index + m[0].length;
  }
  source += escapeRegExp(template.slice(last));
  if (/[{}]/.test(template.replace(/\{[A-Za-z0-9_]+\+?\}/g, ''))) throw new TypeError(`unbalanced braces in path \`${template}\``);
  return { pattern: new RegExp(`^${source}$`), names };
}

function readsBody(parts: readonly Part[] | undefined): boolean {
  return parts?.some((p) => 'source' in p && p.source === 'body') ?? false;
}

export function compileRoute(rule: RouteRule, rest: boolean): Route {
  let method: string | undefined;
  let pathPattern: RegExp | undefined;
  let pathNames: string[] = [];
  if (rest) {
    const m = /^([A-Z]+) (\/\S*)$/.exec(rule.match);
    if (!m) throw new TypeError(`a REST route is \`METHOD /path/{param}\`, not \`${rule.match}\``);
    method = m[1];
    ({ pattern: pathPattern, names: pathNames } = compilePath(m[2]!));
    if (rule.action === undefined) throw new TypeError(`the REST route \`${rule.match}\` needs an \`action\``);
  } else if (!/^[A-Za-z0-9]{1,128}$/.test(rule.match)) {
    throw new TypeError(`\`${rule.match}\` is not an operation name`);
  }
  const action = rule.action ?? rule.match;
  if (!/^[A-Za-z0-9]{1,128}$/.test(action)) throw new TypeError(`\`${action}\` is not an action name`);
  const resource = parseTemplate(rule.resource ?? '*');
  const conditions = Object.entries(rule.conditions ?? {}).map(([k, t]) => [k, parseTemplate(t)] as const);
  for (const [k] of conditions) if (!/^[A-Za-z0-9-]+:[A-Za-z0-9_./-]+$/.test(k)) throw new TypeError(`\`${k}\` is not a condition key (service:Name)`);
  // Global keys (aws:…) are the gateway's to fill from what it verified; a route must not set them from the request.
  for (const [k] of conditions) if (/^aws:/i.test(k)) throw new TypeError(`\`${k}\` is a global condition key; a route names only its service's keys`);
  const requestTags = rule.requestTags === undefined ? undefined : parseTemplate(rule.requestTags);
  if (requestTags !== undefined && (requestTags.length !== 1 || !('source' in requestTags[0]!) || requestTags[0].source !== 'body')) {
    throw new TypeError('`requestTags` must be one `{body.x}` placeholder');
  }
  for (const part of [...resource, ...conditions.flatMap(([, p]) => p)]) {
    if ('source' in part && part.source === 'path' && !pathNames.includes(part.name[0]!)) {
      throw new TypeError(`\`{path.${part.name[0]}}\` is not a parameter of \`${rule.match}\``);
    }
  }
  return {
    rule, method, pathPattern, pathNames, action, resource, conditions, requestTags,
    readsBody: readsBody(resource) || readsBody(requestTags) || conditions.some(([, p]) => readsBody(p)),
  };
}

/** A service's routes, compiled once (at start and on every reload). */
export class ServiceRoutes {
  readonly #rest: boolean;
  readonly #byOperation = new Map<string, Route>();
  readonly #restRoutes: Route[] = [];

  constructor(service: UpstreamService) {
    this.#rest = service.protocol === 'rest-json' || service.protocol === 'rest-xml';
    for (const rule of service.routes) {
      const route = compileRoute(rule, this.#rest);
      if (this.#rest) this.#restRoutes.push(route);
      else if (this.#byOperation.has(rule.match)) throw new TypeError(`operation \`${rule.match}\` has two routes`);
      else this.#byOperation.set(rule.match, route);
    }
  }

  /** The route of an awsJson or query operation; operations with none act on `*`. */
  forOperation(operation: string): Route | undefined {
    return this.#byOperation.get(operation);
  }

  /** The first REST route matching the method and path, with its path parameters decoded. */
  forPath(method: string, path: string): { route: Route; params: Record<string, string> } | undefined {
    for (const route of this.#restRoutes) {
      if (route.method !== method) continue;
      const m = route.pathPattern!.exec(path);
      if (!m) continue;
      const params: Record<string, string> = {};
      try {
        route.pathNames.forEach((name, i) => (params[name] = decodeURIComponent(m[i + 1]!)));
      } catch {
        throw new PortcullisError('InvalidParameterValue', 'The request path is not valid percent-encoding.');
      }
      return { route, params };
    }
    return undefined;
  }
}

/**
 * The tags a request asks to set (for aws:RequestTag/… and aws:TagKeys), read from the body field
 * a route's `requestTags` names: a list of `{key, value}` (or `Key`/`Value`), or an object of
 * key → value. Anything else gives none.
 */
export function requestTags(route: Route, body: unknown): Array<[string, string]> {
  const part = route.requestTags?.[0];
  if (part === undefined || !('source' in part)) return [];
  const value = walk(body, part.name);
  const out: Array<[string, string]> = [];
  if (Array.isArray(value)) {
    for (const t of value) {
      if (t === null || typeof t !== 'object') continue;
      const o = t as Record<string, unknown>;
      const k = o['key'] ?? o['Key'];
      const v = o['value'] ?? o['Value'];
      if (typeof k === 'string' && typeof v === 'string') out.push([k, v]);
    }
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out.push([k, v]);
  }
  return out;
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The JSON body a route reads, parsed so that the gateway and the upstream cannot read it two
 * ways: invalid UTF-8 and objects that name one member twice are refused (parsers differ on
 * which of two equal names wins, so authorizing one value while the upstream acts on the other
 * would be a way around the policy). Undefined when the text is not JSON.
 */
export function parseJsonBody(body: Uint8Array): { value: unknown } | undefined {
  let text: string;
  let value: unknown;
  try {
    text = STRICT_UTF8.decode(body);
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return memberNamesIn(text) === membersOf(value) ? { value } : undefined;
}

/** How many member names valid JSON text holds: strings followed by a colon. */
function memberNamesIn(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) !== 0x22) continue;
    let j = i + 1;
    while (j < text.length && text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c ? 2 : 1;
    let k = j + 1;
    while (k < text.length && (text[k] === ' ' || text[k] === '\t' || text[k] === '\n' || text[k] === '\r')) k++;
    if (text[k] === ':') n++;
    i = j;
  }
  return n;
}

/**
 * How many members the parsed value holds, at every depth (duplicates collapse to one). A loop
 * with its own stack: JSON.parse takes nesting deeper than the call stack allows.
 */
function membersOf(value: unknown): number {
  let n = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object') continue;
    const children = Array.isArray(v) ? v : Object.values(v);
    if (!Array.isArray(v)) n += children.length;
    for (const c of children) stack.push(c);
  }
  return n;
}
