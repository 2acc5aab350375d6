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

/** The second `isoMillis` last formatted, and its text up to the fraction (`2026-12-07T16:00:00.`). */
let lastSecond = NaN;
let lastPrefix = '';

/**
 * `ms` as `Date#toISOString` writes it (`2026-12-07T16:00:00.123Z`), for the audit line and the
 * identity headers of every request: the text up to the second is made once per second.
 */
export function isoMillis(ms: number): string {
  const whole = Math.trunc(ms); // as Date does (TimeClip)
  const second = Math.floor(whole / 1000);
  if (second !== lastSecond) {
    lastPrefix = new Date(second * 1000).toISOString().slice(0, -4);
    lastSecond = second;
  }
  const frac = whole - second * 1000;
  return `${lastPrefix}${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}Z`;
}
