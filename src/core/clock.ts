/** Milliseconds since the epoch. Injected everywhere time matters, so tests can freeze it. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();

/** A clock that stands still at `ms` until moved; for tests. */
export function fixedClock(ms: number): Clock & { set(ms: number): void; advance(ms: number): void } {
  let now = ms;
  const clock = (() => now) as Clock & { set(ms: number): void; advance(ms: number): void };
  clock.set = (v) => (now = v);
  clock.advance = (d) => (now += d);
  return clock;
}

/** `ms` as AWS writes times in answers and condition keys: ISO 8601 in UTC, whole seconds (`2026-12-07T16:00:00Z`). */
export function isoSeconds(ms: number): string {
  const s = new Date(ms).toISOString();
  return `${s.slice(0, -5)}Z`;
}
