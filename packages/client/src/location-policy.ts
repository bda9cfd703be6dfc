import { Movement } from "./codes.js";

/**
 * When a device sends its location (SPEC §8, the design's location policy), shared by the web
 * app and the CLI: at most `maxPerMinute` (4) fixes in any 60 seconds while moving, none while
 * still — except the first fix after stopping, so peers see where the person came to rest.
 * Pure: the clock is injected and nothing is sent here; call `offer` with each new fix and send
 * it only when the answer is true.
 */
export interface LocationPolicyOptions {
  /** Milliseconds since the epoch; default `Date.now`. */
  now?: () => number;
  maxPerMinute?: number;
}

const WINDOW_MS = 60_000;

export class LocationPolicy {
  private readonly now: () => number;
  private readonly maxPerMinute: number;
  /** When the fixes of the last minute were let through. */
  private sent: number[] = [];
  private still = false;

  constructor(options: LocationPolicyOptions = {}) {
    this.now = options.now ?? Date.now;
    this.maxPerMinute = options.maxPerMinute ?? 4;
    if (!Number.isInteger(this.maxPerMinute) || this.maxPerMinute < 1)
      throw new RangeError("maxPerMinute must be a positive whole number");
  }

  /** Whether a fix with this movement should be sent now; when true it counts against the limit. */
  offer(movement: Movement): boolean {
    const now = this.now();
    this.sent = this.sent.filter((at) => now - at < WINDOW_MS);
    if (movement === Movement.Stationary) {
      // One fix on coming to rest (if the rate allows), then silence until moving again.
      if (this.still) return false;
      if (this.sent.length >= this.maxPerMinute) return false;
      this.still = true;
    } else {
      this.still = false;
      if (this.sent.length >= this.maxPerMinute) return false;
    }
    this.sent.push(now);
    return true;
  }

  /** Milliseconds until a moving fix would be let through again (0: now). */
  waitMs(): number {
    const now = this.now();
    const recent = this.sent.filter((at) => now - at < WINDOW_MS);
    if (recent.length < this.maxPerMinute) return 0;
    return recent[recent.length - this.maxPerMinute] + WINDOW_MS - now;
  }
}
