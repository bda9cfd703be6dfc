/**
 * The one test clock: services take `now()`, tests move it instead of sleeping.
 * By default it runs with the wall clock plus the offset advanced so far (rows
 * written in one test still get increasing times); `frozen` stops it at `start`
 * so a test can stand exactly one millisecond before an expiry.
 */
export interface TestClock {
  now(): Date;
  /** Moves the clock forward by `ms`. */
  advance(ms: number): void;
}

export function testClock(options: { frozen?: boolean; start?: number } = {}): TestClock {
  const startedAt = Date.now();
  const origin = options.start ?? startedAt;
  let offsetMs = 0;
  const base = options.frozen ? () => origin : () => origin + (Date.now() - startedAt);
  return {
    now: () => new Date(base() + offsetMs),
    advance(ms: number) {
      offsetMs += ms;
    },
  };
}
