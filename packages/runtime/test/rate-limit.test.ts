import { Code } from "@connectrpc/connect";
import { RateLimiter } from "@seeme/runtime/rate-limit";

describe("RateLimiter", () => {
  it("allows a burst, refuses beyond it, and refills over time", () => {
    let now = 0;
    const limiter = new RateLimiter({ capacity: 3, perSecond: 1 }, () => now);
    expect([1, 2, 3, 4].map(() => limiter.tryTake("a"))).toEqual([true, true, true, false]);
    expect(limiter.tryTake("b")).toBe(true);
    now = 1000;
    expect(limiter.tryTake("a")).toBe(true);
    expect(limiter.tryTake("a")).toBe(false);
    expect(() => limiter.take("a", "sign-in")).toThrow(expect.objectContaining({ code: Code.ResourceExhausted }));
  });

  it("does not take tokens from a refused multi-token request", () => {
    const limiter = new RateLimiter({ capacity: 5, perSecond: 1 }, () => 0);
    expect(limiter.tryTake("k", 6)).toBe(false);
    expect(limiter.tryTake("k", 5)).toBe(true);
  });
});
