/**
 * Load from wrk (another process) over 32 keep-alive TLS connections, in rounds that alternate
 * between the targets. Each target's figure is the median of its per-round ratios to the first
 * target (the baseline), whose round ran just before: a slow spell of a shared machine then
 * slows both sides of a ratio, where a ratio of two medians would compare different spells.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { pairedRatio, type Rate } from './measure.js';

export function hasWrk(): boolean {
  return spawnSync('wrk', ['--version']).error === undefined;
}

/** One bounded run; throws if any answer was not a success (a refused benchmark measures nothing). */
export function wrk(url: string, script: string, seconds: number): number {
  const out = execFileSync('wrk', ['-t1', '-c32', `-d${seconds}s`, '-s', script, url], { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const refused = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  if (!Number.isFinite(rps)) throw new Error(`could not read wrk's output:\n${out}`);
  if (refused > 0) throw new Error(`${url}: ${refused} benchmark requests refused`);
  return rps;
}

/** A wrk script that sends one POST as signed: its body and every signed field but Host (wrk sets it). */
export function postScript(headers: Readonly<Record<string, string>>, body: string): string {
  const lines = ['wrk.method = "POST"', `wrk.body = ${JSON.stringify(body)}`];
  for (const [k, v] of Object.entries(headers)) if (k !== 'host') lines.push(`wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`);
  return lines.join('\n') + '\n';
}

export interface Target {
  readonly name: string;
  /** Where wrk sends its requests (`https://host:port/`). */
  readonly url: string;
  /** The wrk script that signs them for this target. */
  readonly script: string;
}

export interface Measured extends Rate {
  /** The median of this target's per-round ratios to the baseline (1 for the baseline). */
  readonly ratio: number;
}

/** `targets[0]` is the baseline. */
export function wrkRounds(targets: readonly Target[], opts: { rounds?: number; seconds?: number } = {}): Map<string, Measured> {
  const rounds = opts.rounds ?? 5;
  const seconds = opts.seconds ?? 2;
  for (const t of targets) wrk(t.url, t.script, 1); // warm up
  const samples = targets.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) targets.forEach((t, i) => samples[i]!.push(wrk(t.url, t.script, seconds)));
  const rates: Rate[] = targets.map((t, i) => {
    const s = [...samples[i]!].sort((a, b) => a - b);
    return { name: t.name, opsPerSec: s[Math.floor(s.length / 2)]!, rounds: samples[i]! };
  });
  return new Map(rates.map((r) => [r.name, { ...r, ratio: pairedRatio(r, rates[0]!) }]));
}
