import { Code, ConnectError } from "@connectrpc/connect";
import { PrismaClientKnownRequestError } from "@prisma/client/runtime/client";
import { BoundedSet } from "@seeme/runtime/bounded-set";
import { invalid, isForeignKeyViolation, isUniqueViolation } from "@seeme/runtime/errors";
import { startPeriodic } from "@seeme/runtime/periodic";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("startPeriodic", () => {
  it("runs ticks one after another, never overlapping, and stop() waits for the tick in flight", async () => {
    let active = 0;
    let maxActive = 0;
    let ticks = 0;
    let finished = 0;
    const loop = startPeriodic(
      async () => {
        ticks++;
        active++;
        maxActive = Math.max(maxActive, active);
        await sleep(30);
        active--;
        finished++;
      },
      { intervalMs: 5, onError: () => undefined },
    );
    await sleep(120);
    loop.trigger();
    loop.trigger();
    await loop.stop();
    expect(maxActive).toBe(1);
    expect(ticks).toBeGreaterThanOrEqual(2);
    // Nothing was left running after stop() resolved.
    expect(active).toBe(0);
    expect(finished).toBe(ticks);
    const after = ticks;
    await sleep(40);
    expect(ticks).toBe(after);
  });

  it("waits one period before the first tick unless immediate, and trigger() runs one at once", async () => {
    const calls: string[] = [];
    const slow = startPeriodic(() => void calls.push("slow"), { intervalMs: 60_000, onError: () => undefined });
    const now = startPeriodic(() => void calls.push("now"), {
      intervalMs: 60_000,
      immediate: true,
      onError: () => undefined,
    });
    await sleep(20);
    expect(calls).toEqual(["now"]);
    slow.trigger();
    await sleep(20);
    expect(calls).toEqual(["now", "slow"]);
    await Promise.all([slow.stop(), now.stop()]);
  });

  it("reports a failing tick and keeps going", async () => {
    const errors: unknown[] = [];
    let ticks = 0;
    const loop = startPeriodic(
      () => {
        ticks++;
        if (ticks === 1) throw new Error("first tick fails");
      },
      { intervalMs: 5, immediate: true, onError: (error) => errors.push(error) },
    );
    await sleep(60);
    await loop.stop();
    expect(errors).toHaveLength(1);
    expect((errors[0] as Error).message).toBe("first tick fails");
    expect(ticks).toBeGreaterThan(1);
  });

  it("a trigger during a tick runs exactly one more tick after it", async () => {
    let ticks = 0;
    let release: () => void = () => undefined;
    const loop = startPeriodic(
      async () => {
        ticks++;
        if (ticks === 1) await new Promise<void>((resolve) => (release = resolve));
      },
      { intervalMs: 60_000, immediate: true, onError: () => undefined },
    );
    await sleep(5);
    loop.trigger();
    loop.trigger();
    release();
    await sleep(20);
    expect(ticks).toBe(2);
    await loop.stop();
  });
});

describe("BoundedSet", () => {
  it("reports first sightings and forgets the oldest key beyond its capacity", () => {
    const set = new BoundedSet<string>(2);
    expect(set.add("a")).toBe(true);
    expect(set.add("a")).toBe(false);
    expect(set.add("b")).toBe(true);
    expect(set.add("c")).toBe(true);
    expect(set.size).toBe(2);
    expect(set.has("a")).toBe(false);
    expect(set.has("b")).toBe(true);
    expect(set.add("a")).toBe(true);
    expect(set.has("b")).toBe(false);
  });

  it("refuses a capacity that is not a positive integer", () => {
    expect(() => new BoundedSet(0)).toThrow(RangeError);
    expect(() => new BoundedSet(1.5)).toThrow(RangeError);
  });
});

describe("errors", () => {
  it("invalid() is an InvalidArgument ConnectError with the message", () => {
    const error = invalid("pair_id must be 40 characters");
    expect(error).toBeInstanceOf(ConnectError);
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toBe("pair_id must be 40 characters");
  });

  it("tells Prisma's unique and foreign-key violations apart from other errors", () => {
    const known = (code: string) => new PrismaClientKnownRequestError("x", { code, clientVersion: "7" });
    expect(isUniqueViolation(known("P2002"))).toBe(true);
    expect(isUniqueViolation(known("P2003"))).toBe(false);
    expect(isForeignKeyViolation(known("P2003"))).toBe(true);
    expect(isForeignKeyViolation(known("P2002"))).toBe(false);
    expect(isUniqueViolation(Object.assign(new Error("P2002"), { code: "P2002" }))).toBe(false);
  });
});
