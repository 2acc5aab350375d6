/**
 * The IAM corpus: every JSON file in test/iam/cases (read from the source tree; tsc does not copy
 * JSON), each a list of cases written from the AWS IAM User Guide. Each case names the page it
 * comes from in `doc`.
 *
 * Evaluation cases:
 *   { name, doc,
 *     policies: { identity: [doc...], boundary?: doc, session?: [doc...], resource?: [doc...], trust?: [doc...] },
 *     request: { principal, action, resource, resourceAccount?, context },
 *     expected: allowed | explicitDeny | implicitDeny,
 *     expectedReason?: string,
 *     expectedMatched?: [{ role, index, policy? }] }
 *   Identity, boundary and session documents are parsed and compiled as `identity` policies,
 *   resource documents as `resource` policies and trust documents (role trust policies, which
 *   have no Resource) as `trust` policies; trust and resource documents are both the resource's
 *   policies for `evaluate`. `expectedMatched` is compared as a set against the decision's
 *   matched statements: `role`, the statement `index` within its policy, and `policy`, the
 *   position of the policy in its list (0 when left out).
 *
 * Grammar cases:
 *   { name, doc, kind: identity | resource | trust, policy: <any JSON> | policyText: "raw text",
 *     expectError: "MalformedPolicyDocument" | expectValid: true }
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isPortcullisError } from '../../src/core/errors.js';
import {
  type AuthzPrincipal, type AuthzRequest, type CompiledPolicy, compilePolicy, type DecisionKind, evaluate, parsePolicy,
  type PolicyKind, type PolicySet, RequestContext,
} from '../../src/iam/index.js';
import { REPO_ROOT } from '../helpers/paths.js';

export const CASES_DIR = join(REPO_ROOT, 'test', 'iam', 'cases');
const MIN_CASES = 300;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

interface EvalCase {
  readonly name: string;
  readonly doc: string;
  readonly policies: {
    readonly identity: readonly Json[];
    readonly boundary?: Json;
    readonly session?: readonly Json[];
    readonly resource?: readonly Json[];
    readonly trust?: readonly Json[];
  };
  readonly request: {
    readonly principal: AuthzPrincipal;
    readonly action: string;
    readonly resource: string;
    readonly resourceAccount?: string;
    readonly context: Readonly<Record<string, string | readonly string[]>>;
  };
  readonly expected: DecisionKind;
  readonly expectedReason?: string;
  readonly expectedMatched?: ReadonlyArray<{ readonly role: string; readonly index: number; readonly policy?: number }>;
}

interface GrammarCase {
  readonly name: string;
  readonly doc: string;
  readonly kind: PolicyKind;
  readonly policy?: Json;
  readonly policyText?: string;
  readonly expectError?: 'MalformedPolicyDocument';
  readonly expectValid?: true;
}

type Case = EvalCase | GrammarCase;

const DOC_URL = /^https:\/\/docs\.aws\.amazon\.com\/IAM\/latest\/UserGuide\/[\w.-]+\.html(#[\w.-]+)?$/;
const DECISIONS: readonly string[] = ['allowed', 'explicitDeny', 'implicitDeny'];
const KINDS: readonly string[] = ['identity', 'resource', 'trust'];
const PRINCIPAL_KINDS: readonly string[] = ['user', 'role-session', 'root', 'federated', 'service'];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A malformed case is a corpus bug: say which and why, loudly. */
function checkShape(c: unknown, where: string): asserts c is Case {
  const fail = (why: string): never => assert.fail(`${where}: ${why}`);
  if (!isObject(c)) fail('a case must be an object');
  const o = c as Record<string, unknown>;
  if (typeof o['name'] !== 'string' || o['name'] === '') fail('missing name');
  if (typeof o['doc'] !== 'string' || !DOC_URL.test(o['doc'])) fail(`doc must be an IAM User Guide URL, got ${JSON.stringify(o['doc'])}`);
  if ('kind' in o) {
    if (!KINDS.includes(String(o['kind']))) fail(`unknown kind ${JSON.stringify(o['kind'])}`);
    if (('policy' in o) === ('policyText' in o)) fail('a grammar case has exactly one of policy and policyText');
    if ('policyText' in o && typeof o['policyText'] !== 'string') fail('policyText must be a string');
    if ((o['expectError'] === 'MalformedPolicyDocument') === (o['expectValid'] === true)) fail('a grammar case has exactly one of expectError and expectValid');
    return;
  }
  if (!DECISIONS.includes(String(o['expected']))) fail(`expected must be one of ${DECISIONS.join(', ')}`);
  const p = o['policies'];
  if (!isObject(p) || !Array.isArray(p['identity'])) fail('policies.identity must be a list');
  const pol = p as Record<string, unknown>;
  for (const k of Object.keys(pol)) if (!['identity', 'boundary', 'session', 'resource', 'trust'].includes(k)) fail(`unknown policy role ${k}`);
  for (const k of ['session', 'resource', 'trust']) if (k in pol && !Array.isArray(pol[k])) fail(`policies.${k} must be a list`);
  const r = o['request'];
  if (!isObject(r)) fail('missing request');
  const req = r as Record<string, unknown>;
  if (typeof req['action'] !== 'string' || typeof req['resource'] !== 'string') fail('request.action and request.resource are strings');
  if (!isObject(req['context'])) fail('request.context must be an object');
  const pr = req['principal'];
  if (!isObject(pr) || !PRINCIPAL_KINDS.includes(String(pr['kind'])) || typeof pr['arn'] !== 'string' || typeof pr['accountId'] !== 'string') fail('request.principal needs kind, arn and accountId');
  if ('expectedMatched' in o) {
    const m = o['expectedMatched'];
    if (!Array.isArray(m) || m.some((x) => !isObject(x) || typeof x['role'] !== 'string' || typeof x['index'] !== 'number')) fail('expectedMatched entries need role and index');
  }
}

export interface CorpusFile {
  readonly file: string;
  readonly cases: readonly Case[];
}

export function loadCorpus(): CorpusFile[] {
  const files = readdirSync(CASES_DIR).filter((f) => f.endsWith('.json')).sort();
  return files.map((file) => {
    const raw: unknown = JSON.parse(readFileSync(join(CASES_DIR, file), 'utf8'));
    assert.ok(Array.isArray(raw), `${file}: a case file is a JSON array`);
    raw.forEach((c, i) => checkShape(c, `${file}[${i}]${isObject(c) && typeof c['name'] === 'string' ? ` (${c['name']})` : ''}`));
    return { file, cases: raw as Case[] };
  });
}

function compile(role: string, i: number, doc: Json, kind: PolicyKind): CompiledPolicy {
  return compilePolicy(`${role}[${i}]`, parsePolicy(JSON.stringify(doc), kind), kind);
}

function policySet(c: EvalCase): PolicySet {
  const p = c.policies;
  const resource = [
    ...(p.resource ?? []).map((d, i) => compile('resource', i, d, 'resource')),
    ...(p.trust ?? []).map((d, i) => compile('resource', (p.resource?.length ?? 0) + i, d, 'trust')),
  ];
  return {
    identity: p.identity.map((d, i) => compile('identity', i, d, 'identity')),
    ...(p.boundary !== undefined ? { boundary: compile('boundary', 0, p.boundary, 'identity') } : {}),
    ...(p.session !== undefined ? { session: p.session.map((d, i) => compile('session', i, d, 'identity')) } : {}),
    ...(p.resource !== undefined || p.trust !== undefined ? { resource } : {}),
  };
}

function request(c: EvalCase): AuthzRequest {
  const r = c.request;
  return {
    principal: r.principal,
    action: r.action,
    resource: r.resource,
    ...(r.resourceAccount !== undefined ? { resourceAccount: r.resourceAccount } : {}),
    context: new RequestContext(Object.entries(r.context)),
  };
}

function runEval(c: EvalCase): void {
  const decision = evaluate(request(c), policySet(c));
  const detail = `(reason ${decision.reason}; matched ${JSON.stringify(decision.matched)})`;
  assert.equal(decision.decision, c.expected, `${c.name}: expected ${c.expected}, got ${decision.decision} ${detail}`);
  if (c.expectedReason !== undefined) assert.equal(decision.reason, c.expectedReason, `${c.name}: reason`);
  if (c.expectedMatched !== undefined) {
    const key = (role: string, policy: number, index: number) => `${role}[${policy}]#${index}`;
    const got = decision.matched.map((m) => key(m.role, Number(/\[(\d+)\]$/.exec(m.policy)?.[1] ?? -1), m.index)).sort();
    const want = c.expectedMatched.map((m) => key(m.role, m.policy ?? 0, m.index)).sort();
    assert.deepEqual(got, want, `${c.name}: matched statements`);
  }
}

function runGrammar(c: GrammarCase): void {
  const text = c.policyText ?? JSON.stringify(c.policy);
  if (c.expectValid) {
    const doc = parsePolicy(text, c.kind);
    compilePolicy('grammar', doc, c.kind);
    return;
  }
  assert.throws(
    () => parsePolicy(text, c.kind),
    (e: unknown) => isPortcullisError(e) && e.code === 'MalformedPolicyDocument',
    `${c.name}: expected MalformedPolicyDocument`,
  );
}

const corpus = loadCorpus();

describe('IAM corpus', () => {
  it(`holds at least ${MIN_CASES} cases, uniquely named, in several files`, () => {
    const all = corpus.flatMap((f) => f.cases);
    assert.ok(all.length >= MIN_CASES, `only ${all.length} cases`);
    assert.ok(corpus.length >= 10, `only ${corpus.length} files`);
    for (const f of corpus) assert.ok(f.cases.length > 0, `${f.file} is empty`);
    const names = all.map((c) => c.name);
    const dupes = names.filter((n, i) => names.indexOf(n) !== i);
    assert.deepEqual(dupes, [], 'case names are unique');
  });

  it('has cases of every expected decision and both grammar outcomes', () => {
    const all = corpus.flatMap((f) => f.cases);
    for (const d of DECISIONS) assert.ok(all.some((c) => 'expected' in c && c.expected === d), `no ${d} case`);
    assert.ok(all.some((c) => 'kind' in c && c.expectValid === true));
    assert.ok(all.some((c) => 'kind' in c && c.expectError !== undefined));
  });

  for (const { file, cases } of corpus) {
    describe(file, () => {
      for (const c of cases) {
        it(c.name, () => ('kind' in c ? runGrammar(c) : runEval(c)));
      }
    });
  }
});
