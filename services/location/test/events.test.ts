import { randomUUID } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { BreakReason } from "@seeme/contracts/connection";
import { events } from "@seeme/contracts/subjects";
import { NOT_YOUR_CONNECTION } from "../src/access.js";
import { compactSeen } from "../src/db/seen.js";
import {
  blob,
  countPackets,
  newConnection,
  newPairId,
  startHarness,
  waitUntil,
  type Harness,
  type Pair,
} from "./helpers.js";

let h: Harness;

beforeAll(async () => {
  h = await startHarness("location-events");
});
afterAll(() => h.stop());

const count = async (sql: string, pairIds: string[]): Promise<number> =>
  Number((await h.pool.query<{ n: string }>(sql, [pairIds])).rows[0].n);

async function exchange(pair: Pair): Promise<void> {
  await h.as(pair.a).sync({ data: [{ pairId: pair.bPair, packetId: 1, blob: blob("to B") }] });
  await h.as(pair.b).sync({ data: [{ pairId: pair.aPair, packetId: 1, blob: blob("to A") }] });
}

const notices = async (accountId: string) => (await h.as(accountId).sync({})).data.filter((p) => p.pairId === "SERVER");

describe("connection events", () => {
  it("a break purges both queues, notifies the other side with its peer's pairID (5/5) and stops routing for good", async () => {
    const pair = newConnection();
    await h.connect(pair);
    await exchange(pair);
    // The fallback must not resurrect a broken connection either.
    h.connections.routes.set(pair.route.connectionId, pair.route);
    const eventId = randomUUID();
    const broken = { eventId, route: pair.route, brokenByAccountId: pair.a, reason: BreakReason.REQUESTED };
    await h.events.publish(events.connectionBroken, broken, { msgId: randomUUID() });
    await waitUntil(
      async () =>
        (await h.pool.query("SELECT 1 FROM route WHERE connection_id = $1", [pair.route.connectionId])).rowCount === 0,
    );
    expect(await countPackets(h.pool, pair.aPair)).toBe(0);
    expect(await countPackets(h.pool, pair.bPair)).toBe(0);

    expect(await notices(pair.b)).toEqual([expect.objectContaining({ type: 5, subType: 5, text: pair.aPair })]);
    expect((await notices(pair.a)).map((n) => n.subType)).toEqual([3]);

    // Redelivered under another message id: the event id keeps it applied once.
    await h.events.publish(events.connectionBroken, broken, { msgId: randomUUID() });
    await h.events.publish(
      events.connectionConfirmed,
      { eventId: randomUUID(), route: pair.route },
      { msgId: randomUUID() },
    );
    const probe = newConnection();
    await h.connect(probe);
    expect(await notices(pair.b)).toHaveLength(1);
    await expect(
      h.as(pair.a).sync({ data: [{ pairId: pair.bPair, packetId: 2, blob: blob("late") }] }),
    ).rejects.toMatchObject({ code: Code.PermissionDenied, rawMessage: NOT_YOUR_CONNECTION });
    expect(await countPackets(h.pool, pair.bPair)).toBe(0);
  });

  it("a break leaves nothing about either pairID: no queued packet, no receipt, no idempotence record", async () => {
    const pair = newConnection();
    const other = newConnection();
    await h.connect(pair);
    await h.connect(other);
    await exchange(pair);
    await exchange(other);
    // B takes A's packet (a receipt waits for A); B's packet still waits for A.
    await h.as(pair.b).sync({ lastPacketsReceived: [{ pairId: pair.bPair, packetIds: [1] }] });
    await h.as(other.b).sync({ lastPacketsReceived: [{ pairId: other.bPair, packetIds: [1] }] });
    await h.as(pair.a).sync({ data: [{ pairId: pair.bPair, packetId: 2, blob: blob("folded") }] });
    // The ids stored so far fold into ranges; B's #2 below stays a seen_packet row (unless the
    // service's own sweeper folds it first: then the ranges alone hold it).
    await compactSeen(h.location.context.db, h.clock.now());
    await h.as(pair.b).sync({ data: [{ pairId: pair.aPair, packetId: 2, blob: blob("unfolded") }] });
    const left = async (pairs: string[]) => ({
      packets: await count("SELECT count(*) AS n FROM packet WHERE recipient_pair_id = ANY($1)", pairs),
      receipts: await count(
        "SELECT count(*) AS n FROM delivery_receipt WHERE recipient_pair_id = ANY($1) OR sender_pair_id = ANY($1)",
        pairs,
      ),
      seenPackets: await count("SELECT count(*) AS n FROM seen_packet WHERE recipient_pair_id = ANY($1)", pairs),
      seenRanges: await count("SELECT count(*) AS n FROM seen_range WHERE recipient_pair_id = ANY($1)", pairs),
    });
    expect(await left([pair.aPair, pair.bPair])).toMatchObject({ packets: 3, receipts: 1, seenRanges: 2 });
    const others = await left([other.aPair, other.bPair]);
    expect(others).toMatchObject({ packets: 1, receipts: 1 });

    await h.events.publish(
      events.connectionBroken,
      { eventId: randomUUID(), route: pair.route, brokenByAccountId: pair.b, reason: BreakReason.REQUESTED },
      { msgId: randomUUID() },
    );
    await waitUntil(
      async () =>
        (await h.pool.query("SELECT 1 FROM route WHERE connection_id = $1", [pair.route.connectionId])).rowCount === 0,
    );
    expect(await left([pair.aPair, pair.bPair])).toEqual({ packets: 0, receipts: 0, seenPackets: 0, seenRanges: 0 });
    // Another connection's queue, receipts and record are untouched.
    expect(await left([other.aPair, other.bPair])).toEqual(others);
  });

  it("an expired invite notifies the initiator (5/4) with the invited pairID", async () => {
    const initiator = randomUUID();
    const invited = newPairId();
    await h.events.publish(
      events.inviteExpired,
      { eventId: randomUUID(), initiatorAccountId: initiator, senderPairId: newPairId(), recipientPairId: invited },
      { msgId: randomUUID() },
    );
    await waitUntil(async () => (await notices(initiator)).length === 1);
    expect(await notices(initiator)).toEqual([expect.objectContaining({ type: 5, subType: 4, text: invited })]);
  });

  it("account deletion purges the account's queues and its server messages", async () => {
    const pair = newConnection();
    await h.connect(pair);
    await exchange(pair);
    await h.events.publish(
      events.accountDeleted,
      { eventId: randomUUID(), accountId: pair.a },
      { msgId: randomUUID() },
    );
    await waitUntil(async () => (await countPackets(h.pool, pair.aPair)) === 0);
    const { rows } = await h.pool.query(
      "SELECT count(*)::int AS n FROM server_message_recipient WHERE account_id = $1",
      [pair.a],
    );
    expect(rows[0].n).toBe(0);
    await expect(
      h.as(pair.b).sync({ data: [{ pairId: pair.aPair, packetId: 2, blob: blob("gone") }] }),
    ).rejects.toMatchObject({ code: Code.PermissionDenied });
  });
});

describe("route projection", () => {
  it("falls back to the connection service for a connection whose event has not arrived, and caches it", async () => {
    const pair = newConnection();
    h.connections.routes.set(pair.route.connectionId, pair.route);
    const before = h.connections.calls.listAccountRoutes;
    await h.as(pair.a).sync({ data: [{ pairId: pair.bPair, packetId: 1, blob: blob("early") }] });
    expect(h.connections.calls.listAccountRoutes).toBe(before + 1);
    await h.as(pair.a).sync({ data: [{ pairId: pair.bPair, packetId: 2, blob: blob("cached") }] });
    expect(h.connections.calls.listAccountRoutes).toBe(before + 1);
    expect((await h.as(pair.b).sync({})).data.map((p) => p.packetId)).toEqual([1, 2]);
  });

  it("rebuilds a lost projection from the connection service on start", async () => {
    const pair = newConnection();
    h.connections.routes.set(pair.route.connectionId, pair.route);
    await h.pool.query("DELETE FROM route; DELETE FROM projection_state");
    const listed = h.connections.calls.listRoutes;
    await h.restart();
    await h.location.projectionReady;
    expect(h.connections.calls.listRoutes).toBeGreaterThan(listed);
    const { rows } = await h.pool.query("SELECT account_id FROM route WHERE pair_id = $1", [pair.bPair]);
    expect(rows).toEqual([{ account_id: pair.b }]);
    // Broken connections (retired pairIDs) are not rebuilt.
    expect((await h.pool.query("SELECT 1 FROM route r JOIN retired_pair x USING (pair_id)")).rowCount).toBe(0);
  });
});
