/**
 * A small, honest micro-benchmark loop: each contender runs in interleaved rounds of a fixed
 * duration, and the median rate of the rounds is kept. These machines are noisy, so figures
 * are reported as ratios to a baseline measured in the same run.
 */
export interface Contender {
  readonly name: string;
  /** One operation; may return a promise. */
  readonly op: () => unknown;
}

export interface Rate {
  readonly name: string;
  /** The median of the rounds. */
  readonly opsPerSec: number;
  /** Each round's rate, in round order (rounds of all contenders interleave). */
  readonly rounds: readonly number[];
}

/**
 * The median of the per-round ratios `a / b`. Rounds of the two ran back to back, so a burst of
 * load from elsewhere on the machine hits both sides of one ratio alike; the ratio of the two
 * medians would let bursts in different rounds pull them apart.
 */
export function pairedRatio(a: Rate, b: Rate): number {
  const ratios = a.rounds.map((x, i) => x / b.rounds[i]!).sort((x, y) => x - y);
  return ratios[Math.floor(ratios.length / 2)]!;
}

async function round(c: Contender, ms: number): Promise<number> {
  const end = process.hrtime.bigint() + BigInt(ms) * 1_000_000n;
  const start = process.hrtime.bigint();
  let n = 0;
  // Check the time every 64 operations so reading the clock costs nothing measurable.
  for (;;) {
    for (let i = 0; i < 64; i++) {
      const r = c.op();
      if (r instanceof Promise) await r;
    }
    n += 64;
    const now = process.hrtime.bigint();
    if (now >= end) return (n * 1e9) / Number(now - start);
  }
}

export async function compare(contenders: readonly Contender[], opts: { rounds?: number; roundMs?: number } = {}): Promise<Rate[]> {
  const rounds = opts.rounds ?? 7;
  const roundMs = opts.roundMs ?? 250;
  const samples = contenders.map(() => [] as number[]);
  for (const c of contenders) await round(c, 100); // warm up
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < contenders.length; i++) samples[i]!.push(await round(contenders[i]!, roundMs));
  }
  return contenders.map((c, i) => {
    const s = [...samples[i]!].sort((a, b) => a - b);
    return { name: c.name, opsPerSec: s[Math.floor(s.length / 2)]!, rounds: samples[i]! };
  });
}

export function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US').padStart(12);
}
