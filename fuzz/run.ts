/**
 * `npm run fuzz`: coverage-guided fuzzing of the targets in fuzz/targets.ts.
 *
 * Jazzer.js (the libFuzzer engine for Node) was the first choice; its prebuilt addon needs glibc
 * 2.38 and will not load on our CI image, so this is a small engine of the same kind on V8's own
 * block coverage (node:inspector, Profiler.takePreciseCoverage): an input that reaches a block of
 * dist/src/ not seen before, or one seen before a new number of times (AFL-style buckets), joins
 * the corpus, and the corpus is what gets mutated.
 *
 *   npm run fuzz                          # 60 s in all, shared by the targets
 *   npm run fuzz -- --seconds 600 --target policy-document --seed 7
 *
 * Prints, per target: inputs tried, corpus size, coverage features, crashes and slow inputs.
 * Crashing inputs are saved under a temporary directory (printed). Exit code 1 when anything crashed.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mutate, Rng } from './mutate.js';
import { runOne, TARGETS, type FuzzTarget } from './targets.js';

interface Args {
  seconds: number;
  targets: string[];
  seed: number;
  maxLen: number;
  out: string | undefined;
  json: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  const a: Args = { seconds: 60, targets: [], seed: Date.now() & 0x7fffffff, maxLen: 4096, out: undefined, json: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = argv[i + 1];
    const need = () => {
      if (v === undefined) throw new Error(`${k} needs a value`);
      i++;
      return v;
    };
    if (k === '--seconds') a.seconds = Number(need());
    else if (k === '--target') a.targets.push(need());
    else if (k === '--seed') a.seed = Number(need());
    else if (k === '--max-len') a.maxLen = Number(need());
    else if (k === '--out') a.out = need();
    else if (k === '--json') a.json = true;
    else throw new Error(`unknown argument \`${k}\` (use --seconds N, --target NAME, --seed N, --max-len N, --out DIR, --json)`);
  }
  if (!(a.seconds > 0)) throw new Error('--seconds must be positive');
  return a;
}

// ---------------------------------------------------------------------------------------------
// Coverage

interface Range { startOffset: number; endOffset: number; count: number }
interface ScriptCoverage { url: string; functions: { ranges: Range[] }[] }

/** Posts a message and returns its answer; the same-thread session answers synchronously. */
function postSync<T>(session: Session, method: string, params: object = {}): T {
  let result: T | undefined;
  let error: Error | null = null;
  session.post(method, params, (err, res) => {
    error = err;
    result = res as T;
  });
  if (error) throw error;
  if (result === undefined) throw new Error(`inspector answered ${method} asynchronously`);
  return result;
}

function bucket(n: number): number {
  return n <= 3 ? n : n < 8 ? 4 : n < 16 ? 5 : n < 32 ? 6 : n < 128 ? 7 : 8;
}

class Coverage {
  readonly #session = new Session();
  readonly #scope: string;
  constructor(scope: string) {
    this.#scope = scope;
    this.#session.connect();
    postSync(this.#session, 'Profiler.enable');
    postSync(this.#session, 'Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  }
  /** The features hit since the last call (counters reset with each take). */
  take(): Set<string> {
    const { result } = postSync<{ result: ScriptCoverage[] }>(this.#session, 'Profiler.takePreciseCoverage');
    const out = new Set<string>();
    for (const script of result) {
      if (!script.url.includes(this.#scope)) continue;
      const file = script.url.slice(script.url.lastIndexOf(this.#scope));
      for (const fn of script.functions) for (const r of fn.ranges) if (r.count > 0) out.add(`${file}:${r.startOffset}:${r.endOffset}:${bucket(r.count)}`);
    }
    return out;
  }
  close(): void {
    this.#session.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------

export interface TargetReport {
  readonly target: string;
  readonly inputs: number;
  readonly corpus: number;
  readonly features: number;
  readonly crashes: number;
  readonly uniqueCrashes: readonly string[];
  readonly slow: number;
}

const SLOW_MS = 1000;

function fuzzTarget(t: FuzzTarget, ms: number, rng: Rng, cov: Coverage, maxLen: number, outDir: () => string): TargetReport {
  const seen = new Set<string>();
  const corpus: Buffer[] = [];
  const crashes = new Map<string, number>();
  let inputs = 0;
  let slow = 0;
  const tryInput = (data: Buffer): void => {
    inputs++;
    const started = performance.now();
    const crash = runOne(t, data);
    const took = performance.now() - started;
    const hit = cov.take();
    let fresh = false;
    for (const f of hit) if (!seen.has(f)) {
      seen.add(f);
      fresh = true;
    }
    if (fresh) corpus.push(data);
    const save = (kind: string, what: string) => {
      const name = `${kind}-${createHash('sha1').update(data).digest('hex').slice(0, 16)}`;
      const dir = join(outDir(), t.name);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${name}.bin`), data);
      writeFileSync(join(dir, `${name}.txt`), what + '\n');
    };
    if (took > SLOW_MS) {
      slow++;
      save('slow', `${took.toFixed(0)} ms`);
    }
    if (crash !== undefined) {
      const key = crash.replace(/`[^`]*`/g, '`…`').slice(0, 160);
      const n = crashes.get(key) ?? 0;
      crashes.set(key, n + 1);
      if (n === 0) save('crash', crash);
    }
  };
  for (const s of t.seeds()) tryInput(s);
  tryInput(Buffer.alloc(0));
  if (corpus.length === 0) corpus.push(...t.seeds());
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    const base = corpus[rng.below(corpus.length)] ?? Buffer.alloc(0);
    const other = corpus[rng.below(corpus.length)];
    tryInput(mutate(base, rng, t.dictionary, other, maxLen));
  }
  let total = 0;
  for (const n of crashes.values()) total += n;
  return { target: t.name, inputs, corpus: corpus.length, features: seen.size, crashes: total, uniqueCrashes: [...crashes.keys()], slow };
}

export function fuzzAll(args: Args): { reports: TargetReport[]; outDir: string | undefined } {
  const targets = args.targets.length === 0 ? TARGETS : args.targets.map((n) => {
    const t = TARGETS.find((x) => x.name === n);
    if (!t) throw new Error(`no target \`${n}\`; targets: ${TARGETS.map((x) => x.name).join(', ')}`);
    return t;
  });
  let outDir = args.out;
  const out = () => (outDir ??= mkdtempSync(join(tmpdir(), 'portcullis-fuzz-')));
  const cov = new Coverage('/dist/src/');
  const rng = new Rng(args.seed);
  const ms = (args.seconds * 1000) / targets.length;
  const reports: TargetReport[] = [];
  try {
    for (const t of targets) {
      const r = fuzzTarget(t, ms, rng, cov, args.maxLen, out);
      reports.push(r);
      if (!args.json) {
        console.log(`${t.name.padEnd(22)} inputs ${String(r.inputs).padStart(8)}  corpus ${String(r.corpus).padStart(5)}  features ${String(r.features).padStart(6)}  crashes ${r.crashes}  slow ${r.slow}`);
        for (const c of r.uniqueCrashes) console.log(`  crash: ${c}`);
      }
    }
  } finally {
    cov.close();
  }
  return { reports, outDir };
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  if (!args.json) console.log(`fuzzing ${args.targets.length || TARGETS.length} targets for ${args.seconds} s in all (seed ${args.seed})`);
  const { reports, outDir } = fuzzAll(args);
  const inputs = reports.reduce((s, r) => s + r.inputs, 0);
  const crashes = reports.reduce((s, r) => s + r.crashes, 0);
  const slow = reports.reduce((s, r) => s + r.slow, 0);
  if (args.json) console.log(JSON.stringify({ seed: args.seed, inputs, crashes, slow, outDir: outDir ?? null, reports }));
  else {
    console.log(`total: ${inputs} inputs tried, ${crashes} crashes, ${slow} slow inputs (> ${SLOW_MS} ms)`);
    if (outDir) console.log(`crashing and slow inputs saved under ${outDir}`);
  }
  process.exitCode = crashes > 0 ? 1 : 0;
}

main();
