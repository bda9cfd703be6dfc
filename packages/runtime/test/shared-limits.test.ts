import { Code } from "@connectrpc/connect";
import { RateLimiter } from "@seeme/runtime/rate-limit";
import { LimitStore, takeInOrder } from "@seeme/runtime/shared-limits";
import { createTestDatabase, type TestDatabase } from "@seeme/testkit/database";

// Two stores on one schema stand for two replicas of a service: separate pools, one database.
let db: TestDatabase;
let replicas: LimitStore[];

beforeAll(async () => {
  db = await createTestDatabase("shared_limits");
  replicas = await Promise.all([
    LimitStore.open(db.url, { leaseTtlMs: 300 }),
    LimitStore.open(db.url, { leaseTtlMs: 300 }),
  ]);
});
afterAll(async () => {
  await Promise.all(replicas.map((store) => store.close()));
  await db.drop();
});

describe("SharedRateLimiter", () => {
  it("grants two replicas hammering one key together exactly one bucket, no more", async () => {
    const now = () => 1_000;
    const [a, b] = replicas.map((store) => store.limiter("sender", { capacity: 25, perSecond: 1 }, now));
    const attempts = Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? a : b).tryTake("account-1"));
    const granted = (await Promise.all(attempts)).filter(Boolean).length;
    expect(granted).toBe(25);
    // Other keys have their own buckets.
    expect(await b.tryTake("account-2")).toBe(true);
  });

  it("refills at the configured rate, whichever replica takes, and refuses a multi-token request without taking", async () => {
    let ms = 10_000;
    const now = () => ms;
    const [a, b] = replicas.map((store) => store.limiter("recipient", { capacity: 4, perSecond: 2 }, now));
    expect(await a.tryTake("pair", 3)).toBe(true);
    expect(await b.tryTake("pair", 2)).toBe(false);
    expect(await b.tryTake("pair", 1)).toBe(true);
    expect(await a.tryTake("pair")).toBe(false);
    ms += 1_000;
    expect(await b.tryTake("pair", 2)).toBe(true);
    expect(await a.tryTake("pair")).toBe(false);
    await expect(a.take("pair", "packets to this pair_id")).rejects.toMatchObject({ code: Code.ResourceExhausted });
  });

  it("keeps limits with the same key but different names apart", async () => {
    const now = () => 0;
    const address = replicas[0].limiter("address", { capacity: 1, perSecond: 1 }, now);
    const account = replicas[1].limiter("account", { capacity: 1, perSecond: 1 }, now);
    expect(await address.tryTake("x")).toBe(true);
    expect(await account.tryTake("x")).toBe(true);
    expect(await address.tryTake("x")).toBe(false);
  });
});

describe("takeInOrder (a Sync's sender and recipient limits in one statement)", () => {
  it("takes every bucket when all have room, across replicas sharing them", async () => {
    const now = () => 0;
    const [senderA, senderB] = replicas.map((store) =>
      store.limiter("order-sender", { capacity: 3, perSecond: 1 }, now),
    );
    const recipient = replicas[0].limiter("order-recipient", { capacity: 10, perSecond: 1 }, now);
    const sync = (sender: typeof senderA, cost: number) =>
      takeInOrder([
        { limiter: sender, key: "alice", what: "packets sent by this account", cost },
        { limiter: recipient, key: "pair-1", what: "packets to this pair_id", cost },
        { limiter: recipient, key: "pair-2", what: "packets to this pair_id", cost: 1 },
      ]);
    await sync(senderA, 2);
    await sync(senderB, 1);
    // The sender's bucket is empty now whichever replica asks; the recipients' hold what is left.
    expect(await senderB.tryTake("alice")).toBe(false);
    expect(await recipient.tryTake("pair-1", 7)).toBe(true);
    expect(await recipient.tryTake("pair-1")).toBe(false);
    expect(await recipient.tryTake("pair-2", 8)).toBe(true);
    expect(await recipient.tryTake("pair-2")).toBe(false);
  });

  it("stops at the first refusal, naming it, and charges none of the buckets after it", async () => {
    const now = () => 0;
    const sender = replicas[1].limiter("stop-sender", { capacity: 5, perSecond: 1 }, now);
    const recipient = replicas[1].limiter("stop-recipient", { capacity: 2, perSecond: 1 }, now);
    const takes = (cost: number) => [
      { limiter: sender, key: "bob", what: "packets sent by this account", cost },
      { limiter: recipient, key: "pair-a", what: "packets to this pair_id", cost },
      { limiter: recipient, key: "pair-b", what: "packets to this pair_id", cost },
    ];
    // pair-a has room for 2 only: refused there; the sender was charged 3 before it, pair-b nothing.
    await expect(takeInOrder(takes(3))).rejects.toMatchObject({
      code: Code.ResourceExhausted,
      rawMessage: "rate limit exceeded for packets to this pair_id; retry later",
    });
    expect(await recipient.tryTake("pair-b", 2)).toBe(true);
    expect(await recipient.tryTake("pair-a", 2)).toBe(true);
    // The sender has 2 left: a Sync of 3 is refused at the sender, and its recipients keep theirs.
    const fresh = replicas[1].limiter("stop-recipient-2", { capacity: 3, perSecond: 1 }, now);
    await expect(
      takeInOrder([
        { limiter: sender, key: "bob", what: "packets sent by this account", cost: 3 },
        { limiter: fresh, key: "pair-c", what: "packets to this pair_id", cost: 3 },
      ]),
    ).rejects.toMatchObject({ rawMessage: "rate limit exceeded for packets sent by this account; retry later" });
    expect(await fresh.tryTake("pair-c", 3)).toBe(true);
    expect(await sender.tryTake("bob", 2)).toBe(true);
  });

  it("takes one by one what one statement cannot: the same bucket twice, or a replica's own limiter", async () => {
    const now = () => 0;
    const shared = replicas[0].limiter("twice", { capacity: 3, perSecond: 1 }, now);
    await expect(
      takeInOrder([
        { limiter: shared, key: "k", what: "k's packets", cost: 2 },
        { limiter: shared, key: "k", what: "k's packets", cost: 2 },
      ]),
    ).rejects.toMatchObject({ rawMessage: "rate limit exceeded for k's packets; retry later" });
    expect(await shared.tryTake("k", 1)).toBe(true);
    expect(await shared.tryTake("k", 1)).toBe(false);
    const local = new RateLimiter({ capacity: 1, perSecond: 1 }, now);
    await takeInOrder([
      { limiter: shared, key: "other", what: "other's packets", cost: 1 },
      { limiter: local, key: "other", what: "other's packets here", cost: 1 },
    ]);
    expect(local.tryTake("other")).toBe(false);
  });
});

describe("LimitStore leases (the live-stream cap)", () => {
  it("lets all replicas together hold at most `cap` leases per key, and frees a released one", async () => {
    const [a, b] = replicas;
    const opens = await Promise.all([a, b, a, b, a, b].map((store) => store.acquireLease("subscribe", "acct", 3)));
    const held = opens.filter((lease) => lease !== undefined);
    expect(held).toHaveLength(3);
    expect(await b.acquireLease("subscribe", "other", 3)).toMatchObject({ held: 1 });
    await held[0]!.release();
    await held[0]!.release();
    expect(await a.acquireLease("subscribe", "acct", 3)).toMatchObject({ held: 3 });
    expect(await b.acquireLease("subscribe", "acct", 3)).toBeUndefined();
  });

  it("frees the leases of a replica that stops renewing them after the lease TTL", async () => {
    const dead = await LimitStore.open(db.url, { leaseTtlMs: 300 });
    const lease = await dead.acquireLease("subscribe", "crashed", 1);
    expect(lease).toBeDefined();
    // A crash: the pool goes away without releasing (close() would release).
    await dead.pool.end();
    expect(await replicas[0].acquireLease("subscribe", "crashed", 1)).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(await replicas[0].acquireLease("subscribe", "crashed", 1)).toBeDefined();
  });

  it("renews live leases so they outlast the TTL", async () => {
    const lease = await replicas[1].acquireLease("subscribe", "long", 1);
    expect(lease).toBeDefined();
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(await replicas[0].acquireLease("subscribe", "long", 1)).toBeUndefined();
  });
});
