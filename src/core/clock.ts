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

/** The second last formatted, and its text up to the fraction (`2026-12-07T16:00:00.`) and whole (`…:00Z`). */
let lastSecond = NaN;
let lastPrefix = '';
let lastWhole = '';

/** The text of `second` (since the epoch), made once per second: times are written for every request. */
function formatSecond(second: number): void {
  if (second === lastSecond) return;
  lastPrefix = new Date(second * 1000).toISOString().slice(0, -4);
  lastWhole = `${lastPrefix.slice(0, -1)}Z`;
  lastSecond = second;
}

/** `ms` as AWS writes times in answers and condition keys: ISO 8601 in UTC, whole seconds (`2026-12-07T16:00:00Z`). */
export function isoSeconds(ms: number): string {
  formatSecond(Math.floor(Math.trunc(ms) / 1000));
  return lastWhole;
}

/** `ms` as `Date#toISOString` writes it (`2026-12-07T16:00:00.123Z`), for the audit line and the identity headers. */
export function isoMillis(ms: number): string {
  const whole = Math.trunc(ms); // as Date does (TimeClip)
  const second = Math.floor(whole / 1000);
  formatSecond(second);
  const frac = whole - second * 1000;
  return `${lastPrefix}${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}Z`;
}
