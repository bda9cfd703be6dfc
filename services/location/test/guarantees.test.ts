import { Code } from "@connectrpc/connect";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { randomUUID } from "node:crypto";
import {
  LocationInternalService,
  Slot,
  SyncTarget,
  type IncomingPacket,
  type SyncResponse,
} from "@seeme/contracts/location";
import { events } from "@seeme/contracts/subjects";
import { SERVICE_HEADER, signService } from "@seeme/runtime/caller";
import { createGrpcClient } from "@seeme/runtime/grpc";
import { NO_HELD_PACKET } from "../src/rpc/held-packets.js";
import { compactSeen } from "../src/db/seen.js";
import { sweepOnce } from "../src/sweeper.js";
import {
  blob,
  countPackets,
  DAY_MS,
  newConnection,
  SECRET,
  startHarness,
  waitUntil,
  type Harness,
  type Pair,
} from "./helpers.js";

/**
 * SPEC §8 relay guarantees through the real location service (PostgreSQL,
 * NATS, gRPC), with the service clock moved by the test: resends never
 * delivered twice, held packets (check-in), latest-value slots.
 */
let h: Harness;
const HOUR_MS = 60 * 60 * 1000;

beforeAll(async () => {
  h = await startHarness("location-guarantees", {
    SWEEP_INTERVAL: "1h",
    RELEASE_INTERVAL: "50ms",
    SENDER_PACKET_BURST: "100000",
    RECIPIENT_PACKET_BURST: "100000",
  });
});
afterAll(() => h.stop());

async function connected(packetLifeMs?: number): Promise<Pair> {
  const pair = newConnection(packetLifeMs);
  await h.connect(pair);
  return pair;
}

const peer = (data: IncomingPacket[], pairId: string) => data.filter((p) => p.pairId === pairId).map((p) => p.packetId);
const meta = (res: SyncResponse, pairId: string) =>
  res.syncMeta.find((m) => m.pairId === pairId && m.target === SyncTarget.SENDER);
const count = async (sql: string, args: unknown[]) => Number((await h.pool.query<{ n: string }>(sql, args)).rows[0].n);
const at = (ms: number) => timestampFromMs(h.clock.now().getTime() + ms);

/** B's view of its inbox under its pairID. */
async function inbox(pair: Pair): Promise<number[]> {
  return peer((await h.as(pair.b).sync({})).data, pair.bPair);
}

/** A Subscribe stream of B's, read in the background until closed. */
function subscribeB(pair: Pair) {
  const abort = new AbortController();
  const packets: IncomingPacket[] = [];
  let caughtUp = false;
  const done = (async () => {
    try {
      for await (const event of h.as(pair.b).subscribe({}, { signal: abort.signal })) {
        if (event.event.case === "caughtUp") caughtUp = true;
        else if (event.event.case === "packet" && event.event.value.pairId === pair.bPair)
          packets.push(event.event.value);
      }
    } catch {
      // Cancelled by the test.
    }
  })();
  return {
    packets,
    caughtUp: () => caughtUp,
    close: async () => {
      abort.abort();
      await done;
    },
  };
}

describe("a (pairID, packetID) that was stored is never delivered again within seven days", () => {
  it("resent after delivery (acknowledged, receipt not yet reported): reported received, not stored, not delivered", async () => {
    const pair = await connected();
    const packet = { pairId: pair.bPair, packetId: 1, blob: blob("once") };
    await h.as(pair.a).sync({ data: [packet] });
    expect(await inbox(pair)).toEqual([1]);
    await h.as(pair.b).sync({ lastPacketsReceived: [{ pairId: pair.bPair, packetIds: [1] }] });
    const again = await h.as(pair.a).sync({ data: [packet] });
    expect(meta(again, pair.bPair)).toMatchObject({ receivedPackets: [1], deliveredPackets: [1] });
    expect(await countPackets(h.pool, pair.bPair)).toBe(0);
    expect(await inbox(pair)).toEqual([]);
  });

  it("resent after its receipt was reported to the sender: never delivered again (the issue's third-party client case)", async () => {
    const pair = await connected();
    const packet = { pairId: pair.bPair, packetId: 2, blob: blob("same bytes") };
    await h.as(pair.a).sync({ data: [packet] });
    await h.as(pair.b).sync({ lastPacketsReceived: [{ pairId: pair.bPair, packetIds: [2] }] });
    expect(meta(await h.as(pair.a).sync({}), pair.bPair)).toMatchObject({ deliveredPackets: [2] });
    const again = await h.as(pair.a).sync({ data: [packet], receiptsSeen: [{ pairId: pair.bPair, packetIds: [2] }] });
    expect(meta(again, pair.bPair)).toMatchObject({ receivedPackets: [2], deliveredPackets: [] });
    expect(await countPackets(h.pool, pair.bPair)).toBe(0);
    expect(await inbox(pair)).toEqual([]);
  });

  it("resent after it expired undelivered: not stored again", async () => {
    const pair = await connected(60_000);
    const packet = { pairId: pair.bPair, packetId: 3, blob: blob("expires") };
    await h.as(pair.a).sync({ data: [packet] });
    h.clock.advance(61_000);
    await sweepOnce(h.location.context);
    expect(await countPackets(h.pool, pair.bPair)).toBe(0);
    await h.as(pair.a).sync({ data: [packet] });
    expect(await countPackets(h.pool, pair.bPair)).toBe(0);
    expect(await inbox(pair)).toEqual([]);
  });

  it("resent after the record was folded and the location service restarted: never delivered again, while new and gap ids still go through", async () => {
    const pair = await connected();
    const ids = [...Array.from({ length: 50 }, (_, i) => i + 1), 60, 61];
    await h
      .as(pair.a)
      .sync({ data: ids.map((packetId) => ({ pairId: pair.bPair, packetId, blob: blob(`p${packetId}`) })) });
    expect(await inbox(pair)).toEqual(ids);
    await h.as(pair.b).sync({ lastPacketsReceived: [{ pairId: pair.bPair, packetIds: ids }] });
    // A takes its receipts: from here only the folded record keeps a resend out.
    await h.as(pair.a).sync({ receiptsSeen: [{ pairId: pair.bPair, packetIds: ids }] });
    expect(await count("SELECT count(*) AS n FROM delivery_receipt WHERE recipient_pair_id = $1", [pair.bPair])).toBe(
      0,
    );
    await sweepOnce(h.location.context);
    // 52 packets, one gap: two ranges and nothing else.
    expect(await count("SELECT count(*) AS n FROM seen_packet WHERE recipient_pair_id = $1", [pair.bPair])).toBe(0);
    expect(
      (
        await h.pool.query("SELECT first, last FROM seen_range WHERE recipient_pair_id = $1 ORDER BY first", [
          pair.bPair,
        ])
      ).rows,
    ).toEqual([
      { first: "1", last: "50" },
      { first: "60", last: "61" },
    ]);

    await h.restart();
    const resend = await h.as(pair.a).sync({
      data: [1, 25, 50, 61, 55, 62].map((packetId) => ({ pairId: pair.bPair, packetId, blob: blob("again") })),
    });
    expect(meta(resend, pair.bPair)?.receivedPackets).toEqual([1, 25, 50, 61, 55, 62]);
    // Only the id in the gap (a late retry) and the new one are stored.
    expect(await inbox(pair)).toEqual([55, 62]);

    // A later compaction folds the new ids into the record and drops none of the folded ranges.
    await sweepOnce(h.location.context);
    expect(
      (
        await h.pool.query("SELECT first, last FROM seen_range WHERE recipient_pair_id = $1 ORDER BY first", [
          pair.bPair,
        ])
      ).rows,
    ).toEqual([
      { first: "1", last: "50" },
      { first: "55", last: "55" },
      { first: "60", last: "62" },
    ]);
    await h.as(pair.b).sync({ lastPacketsReceived: [{ pairId: pair.bPair, packetIds: [55, 62] }] });
    await h.as(pair.a).sync({ receiptsSeen: [{ pairId: pair.bPair, packetIds: [55, 62] }] });
    await h.as(pair.a).sync({
      data: [1, 30, 55, 60, 62].map((packetId) => ({ pairId: pair.bPair, packetId, blob: blob("once more") })),
    });
    expect(await inbox(pair)).toEqual([]);
  });
});

describe("folding the idempotence record", () => {
  it("a fold that waits over 5 s for another replica's fold still completes, and folds what it found", async () => {
    const pair = await connected();
    await h.as(pair.a).sync({ data: [1, 2, 3].map((packetId) => ({ pairId: pair.bPair, packetId, blob: blob("x") })) });
    const replica = await h.pool.connect();
    try {
      // Another replica's sweeper is folding: this one waits for its lock (db/seen.ts).
      await replica.query("BEGIN");
      await replica.query("SELECT pg_advisory_xact_lock(hashtext('location-seen-compaction'))");
      let folded = false;
      const folding = compactSeen(h.location.context.db, h.clock.now()).then((n) => {
        folded = true;
        return n;
      });
      await new Promise((resolve) => setTimeout(resolve, 6000));
      // Two folds at once would write the same ranges: this one waited.
      expect(folded).toBe(false);
      await replica.query("COMMIT");
      expect(await folding).toBeGreaterThanOrEqual(3);
    } finally {
      replica.release();
    }
    const { rows } = await h.pool.query("SELECT first::int, last::int FROM seen_range WHERE recipient_pair_id = $1", [
      pair.bPair,
    ]);
    expect(rows).toEqual([{ first: 1, last: 3 }]);
  });
});

describe("held packets (check-in)", () => {
  it("are invisible to Sync, Subscribe and a guessed acknowledgement before release_at, then pushed and delivered with a receipt", async () => {
    const pair = await connected();
    const stream = subscribeB(pair);
    await waitUntil(stream.caughtUp);
    const sent = await h
      .as(pair.a)
      .sync({ data: [{ pairId: pair.bPair, packetId: 1, blob: blob("I was at the park"), releaseAt: at(HOUR_MS) }] });
    expect(meta(sent, pair.bPair)?.receivedPackets).toEqual([1]);
    expect(await countPackets(h.pool, pair.bPair)).toBe(1);
    expect(await inbox(pair)).toEqual([]);
    // Guessing the id and acknowledging it neither reveals nor removes it.
    const guess = await h.as(pair.b).sync({ lastPacketsReceived: [{ pairId: pair.bPair, packetIds: [1] }] });
    expect(guess.syncMeta).toEqual([expect.objectContaining({ pairId: pair.bPair, deletedPackets: [] })]);
    expect(await countPackets(h.pool, pair.bPair)).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(stream.packets).toEqual([]);

    h.clock.advance(HOUR_MS + 1000);
    await waitUntil(() => stream.packets.length === 1, 3000);
    expect(stream.packets[0]).toMatchObject({ pairId: pair.bPair, packetId: 1 });
    expect(new TextDecoder().decode(stream.packets[0].blob)).toBe("I was at the park");
    await stream.close();
    expect(await inbox(pair)).toEqual([1]);
    await h.as(pair.b).sync({ lastPacketsReceived: [{ pairId: pair.bPair, packetIds: [1] }] });
    expect(meta(await h.as(pair.a).sync({}), pair.bPair)).toMatchObject({ deliveredPackets: [1] });
  });

  it("refuses release_at more than seven days ahead, or together with a slot, with InvalidArgument and stores nothing", async () => {
    const pair = await connected();
    await expect(
      h
        .as(pair.a)
        .sync({ data: [{ pairId: pair.bPair, packetId: 1, blob: blob("x"), releaseAt: at(7 * DAY_MS + 60_000) }] }),
    ).rejects.toMatchObject({ code: Code.InvalidArgument });
    await expect(
      h.as(pair.a).sync({
        data: [{ pairId: pair.bPair, packetId: 1, blob: blob("x"), releaseAt: at(HOUR_MS), slot: Slot.LOCATION }],
      }),
    ).rejects.toMatchObject({ code: Code.InvalidArgument });
    expect(await countPackets(h.pool, pair.bPair)).toBe(0);
  });

  it("only the sender may cancel, only before release; a stranger and the recipient get the same NotFound as for no packet; the recipient never sees it", async () => {
    const pair = await connected();
    const stranger = await connected();
    await h
      .as(pair.a)
      .sync({ data: [{ pairId: pair.bPair, packetId: 5, blob: blob("tell Mum"), releaseAt: at(HOUR_MS) }] });
    const notFound = { code: Code.NotFound, rawMessage: NO_HELD_PACKET };
    await expect(h.held(stranger.a).cancelHeldPacket({ pairId: pair.bPair, packetId: 5 })).rejects.toMatchObject(
      notFound,
    );
    await expect(h.held(pair.b).cancelHeldPacket({ pairId: pair.bPair, packetId: 5 })).rejects.toMatchObject(notFound);
    await expect(h.held(pair.a).cancelHeldPacket({ pairId: pair.bPair, packetId: 6 })).rejects.toMatchObject(notFound);
    await expect(
      h.held(stranger.a).rescheduleHeldPacket({ pairId: pair.bPair, packetId: 5, releaseAt: at(2 * HOUR_MS) }),
    ).rejects.toMatchObject(notFound);
    await expect(h.held(pair.a).cancelHeldPacket({ pairId: "short", packetId: 5 })).rejects.toMatchObject({
      code: Code.InvalidArgument,
    });
    expect(await countPackets(h.pool, pair.bPair)).toBe(1);

    await h.held(pair.a).cancelHeldPacket({ pairId: pair.bPair, packetId: 5 });
    await expect(h.held(pair.a).cancelHeldPacket({ pairId: pair.bPair, packetId: 5 })).rejects.toMatchObject(notFound);
    // A resend of the cancelled id is not stored again either.
    await h
      .as(pair.a)
      .sync({ data: [{ pairId: pair.bPair, packetId: 5, blob: blob("tell Mum"), releaseAt: at(HOUR_MS) }] });
    h.clock.advance(HOUR_MS + 1000);
    expect(await inbox(pair)).toEqual([]);
    expect(meta(await h.as(pair.a).sync({}), pair.bPair)).toBeUndefined();
  });

  it("the sender may move release_at before release, not after; the packet follows the new time", async () => {
    const pair = await connected();
    await h
      .as(pair.a)
      .sync({ data: [{ pairId: pair.bPair, packetId: 1, blob: blob("late"), releaseAt: at(HOUR_MS) }] });
    await expect(
      h.held(pair.a).rescheduleHeldPacket({ pairId: pair.bPair, packetId: 1, releaseAt: at(8 * DAY_MS) }),
    ).rejects.toMatchObject({ code: Code.InvalidArgument });
    await expect(
      h.held(pair.a).rescheduleHeldPacket({ pairId: pair.bPair, packetId: 1, releaseAt: at(-1000) }),
    ).rejects.toMatchObject({ code: Code.InvalidArgument });
    const moved = await h
      .held(pair.a)
      .rescheduleHeldPacket({ pairId: pair.bPair, packetId: 1, releaseAt: at(3 * HOUR_MS) });
    expect(Number(moved.expireTime!.seconds) - Number(moved.releaseAt!.seconds)).toBe(7 * 24 * 3600);
    h.clock.advance(HOUR_MS + 1000);
    expect(await inbox(pair)).toEqual([]);
    h.clock.advance(2 * HOUR_MS);
    expect(await inbox(pair)).toEqual([1]);
    await expect(
      h.held(pair.a).rescheduleHeldPacket({ pairId: pair.bPair, packetId: 1, releaseAt: at(HOUR_MS) }),
    ).rejects.toMatchObject({ code: Code.NotFound, rawMessage: NO_HELD_PACKET });
    await expect(h.held(pair.a).cancelHeldPacket({ pairId: pair.bPair, packetId: 1 })).rejects.toMatchObject({
      code: Code.NotFound,
    });
  });

  it("survives a location service restart and is released after it", async () => {
    const pair = await connected();
    await h.as(pair.a).sync({
      data: [{ pairId: pair.bPair, packetId: 9, blob: blob("held across a restart"), releaseAt: at(HOUR_MS) }],
    });
    await h.restart();
    expect(await inbox(pair)).toEqual([]);
    const stream = subscribeB(pair);
    await waitUntil(stream.caughtUp);
    h.clock.advance(HOUR_MS + 1000);
    await waitUntil(() => stream.packets.length === 1, 3000);
    await stream.close();
    expect(await inbox(pair)).toEqual([9]);
  });
});

describe("receipts", () => {
  it("a response reports at most 5,000 receipts, what one request may acknowledge; the rest come after", async () => {
    const pair = await connected();
    const ids = Array.from({ length: 5001 }, (_, i) => i + 1);
    for (let from = 0; from < ids.length; from += 500) {
      const batch = ids.slice(from, from + 500);
      await h.as(pair.a).sync({ data: batch.map((packetId) => ({ pairId: pair.bPair, packetId, blob: blob("r") })) });
    }
    for (const batch of [ids.slice(0, 5000), ids.slice(5000)])
      await h.as(pair.b).sync({ skipIncoming: true, lastPacketsReceived: [{ pairId: pair.bPair, packetIds: batch }] });
    const first = meta(await h.as(pair.a).sync({}), pair.bPair)?.deliveredPackets ?? [];
    expect(first).toHaveLength(5000);
    const rest = await h.as(pair.a).sync({ receiptsSeen: [{ pairId: pair.bPair, packetIds: first }] });
    expect(meta(rest, pair.bPair)?.deliveredPackets).toEqual(ids.filter((id) => !first.includes(id)));
  });
});

describe("latest-value slot", () => {
  it("B offline while A sends 500 locations and 3 statuses: B receives 1 location and 3 statuses; A's receipts account for all 503", async () => {
    const pair = await connected();
    const statuses = new Set([100, 250, 400]);
    const received: number[] = [];
    const delivered: number[] = [];
    const superseded: number[] = [];
    // Like the SDK, each Sync acknowledges the receipts the previous one reported.
    let seen: number[] = [];
    const record = (res: SyncResponse) => {
      const m = meta(res, pair.bPair);
      received.push(...(m?.receivedPackets ?? []));
      delivered.push(...(m?.deliveredPackets ?? []));
      superseded.push(...(m?.supersededPackets ?? []));
      seen = [...(m?.deliveredPackets ?? []), ...(m?.supersededPackets ?? [])];
    };
    const receiptsSeen = () => [{ pairId: pair.bPair, packetIds: seen }];
    for (let first = 1; first <= 503; first += 100) {
      const data = [];
      for (let id = first; id < first + 100 && id <= 503; id++) {
        data.push({
          pairId: pair.bPair,
          packetId: id,
          blob: blob(`packet ${id}`),
          slot: statuses.has(id) ? Slot.UNSPECIFIED : Slot.LOCATION,
        });
      }
      record(await h.as(pair.a).sync({ data, receiptsSeen: receiptsSeen() }));
    }
    expect(received).toHaveLength(503);
    const waiting = await inbox(pair);
    expect(waiting).toEqual([100, 250, 400, 503]);
    await h.as(pair.b).sync({ lastPacketsReceived: [{ pairId: pair.bPair, packetIds: waiting }] });
    record(await h.as(pair.a).sync({ receiptsSeen: receiptsSeen() }));
    expect(delivered.sort((x, y) => x - y)).toEqual([100, 250, 400, 503]);
    expect(superseded).toHaveLength(499);
    expect(new Set([...delivered, ...superseded]).size).toBe(503);
    expect(new Set([...delivered, ...superseded])).toEqual(new Set(received));
  });

  it("a late retry of an older location does not replace the newer one; statuses are never replaced", async () => {
    const pair = await connected();
    await h.as(pair.a).sync({ data: [{ pairId: pair.bPair, packetId: 10, blob: blob("new"), slot: Slot.LOCATION }] });
    await h.as(pair.a).sync({ data: [{ pairId: pair.bPair, packetId: 9, blob: blob("old"), slot: Slot.LOCATION }] });
    // The receipt of 9, superseded on arrival, comes with A's next sync.
    const next = await h.as(pair.a).sync({ data: [{ pairId: pair.bPair, packetId: 8, blob: blob("status") }] });
    expect(meta(next, pair.bPair)).toMatchObject({
      receivedPackets: [8],
      supersededPackets: [9],
      deliveredPackets: [],
    });
    const { data } = await h.as(pair.b).sync({});
    expect(
      data.filter((p) => p.pairId === pair.bPair).map((p) => [p.packetId, new TextDecoder().decode(p.blob)]),
    ).toEqual([
      [10, "new"],
      [8, "status"],
    ]);
  });

  it("a superseded location is remembered: resent after its receipt was taken and the newer one delivered, it is not stored again", async () => {
    const pair = await connected();
    await h.as(pair.a).sync({ data: [{ pairId: pair.bPair, packetId: 10, blob: blob("new"), slot: Slot.LOCATION }] });
    await h.as(pair.a).sync({ data: [{ pairId: pair.bPair, packetId: 9, blob: blob("old"), slot: Slot.LOCATION }] });
    expect(meta(await h.as(pair.a).sync({}), pair.bPair)?.supersededPackets).toEqual([9]);
    await h.as(pair.a).sync({ receiptsSeen: [{ pairId: pair.bPair, packetIds: [9] }] });
    expect(await inbox(pair)).toEqual([10]);
    await h.as(pair.b).sync({ lastPacketsReceived: [{ pairId: pair.bPair, packetIds: [10] }] });
    // A retry of 9 from another of A's processes, once nothing of 9 or 10 waits any more.
    const retry = await h.as(pair.a).sync({
      data: [{ pairId: pair.bPair, packetId: 9, blob: blob("old"), slot: Slot.LOCATION }],
    });
    expect(meta(retry, pair.bPair)?.receivedPackets).toEqual([9]);
    expect(await inbox(pair)).toEqual([]);
  });
});

describe("revocation (LocationInternalService)", () => {
  const opened: Array<{ close(): void }> = [];
  afterAll(() => opened.forEach((client) => client.close()));
  const internal = (secret = SECRET) => {
    const client = createGrpcClient(LocationInternalService, h.address(), {
      headers: () => ({ [SERVICE_HEADER]: signService(secret, "connection") }),
    });
    opened.push(client);
    return client;
  };

  it("RevokePairs refuses both pairIDs at once and empties their queues; a stranger service credential is refused", async () => {
    const pair = await connected();
    await h.as(pair.a).sync({ data: [{ pairId: pair.bPair, packetId: 1, blob: blob("queued") }] });
    await expect(
      internal("another-secret-".padEnd(48, "y")).revokePairs({ pairIds: [pair.aPair, pair.bPair] }),
    ).rejects.toMatchObject({ code: Code.PermissionDenied });
    await expect(internal().revokePairs({ pairIds: ["short"] })).rejects.toMatchObject({ code: Code.InvalidArgument });
    await internal().revokePairs({ pairIds: [pair.aPair, pair.bPair] });
    expect(await countPackets(h.pool, pair.bPair)).toBe(0);
    for (const [who, to] of [
      [pair.a, pair.bPair],
      [pair.b, pair.aPair],
    ]) {
      await expect(h.as(who).sync({ data: [{ pairId: to, packetId: 2, blob: blob("after") }] })).rejects.toMatchObject({
        code: Code.PermissionDenied,
      });
    }
  });

  it("revoking one connection, or one account, leaves every other connection whole: route, queue, receipts and idempotence record", async () => {
    const keep = await connected();
    await h.as(keep.a).sync({
      data: [
        { pairId: keep.bPair, packetId: 1, blob: blob("delivered") },
        { pairId: keep.bPair, packetId: 2, blob: blob("queued") },
      ],
    });
    await h.as(keep.b).sync({ lastPacketsReceived: [{ pairId: keep.bPair, packetIds: [1] }], skipIncoming: true });
    const seen = await count("SELECT count(*) AS n FROM seen_packet WHERE recipient_pair_id = $1", [keep.bPair]);

    const gone = await connected();
    await h.as(gone.a).sync({ data: [{ pairId: gone.bPair, packetId: 1, blob: blob("gone") }] });
    await internal().revokePairs({ pairIds: [gone.aPair, gone.bPair] });
    const deleted = await connected();
    await internal().revokeAccount({ accountId: deleted.a });
    // Both arrive twice in practice (the RPC, then the event): the second changes nothing and succeeds.
    await internal().revokePairs({ pairIds: [gone.aPair, gone.bPair] });
    await internal().revokeAccount({ accountId: deleted.a });

    expect(await count("SELECT count(*) AS n FROM route WHERE pair_id = ANY($1)", [[keep.aPair, keep.bPair]])).toBe(2);
    expect(await count("SELECT count(*) AS n FROM seen_packet WHERE recipient_pair_id = $1", [keep.bPair])).toBe(seen);
    expect(await countPackets(h.pool, keep.bPair)).toBe(1);
    // The receipt for 1 is still A's to hear (from the receipt itself: a Sync that resends 1 would
    // report it delivered from the idempotence record alone).
    expect(meta(await h.as(keep.a).sync({}), keep.bPair)).toMatchObject({ deliveredPackets: [1] });
    // A resend of 1 is not stored again; A can still send.
    const after = await h.as(keep.a).sync({
      data: [
        { pairId: keep.bPair, packetId: 1, blob: blob("delivered") },
        { pairId: keep.bPair, packetId: 3, blob: blob("new") },
      ],
    });
    expect(meta(after, keep.bPair)).toMatchObject({ deliveredPackets: [1], receivedPackets: [1, 3] });
    expect(await countPackets(h.pool, keep.bPair)).toBe(2);
  });

  it("RevokePairs naming one side of a connection retires both: neither may send, and both queues are emptied", async () => {
    const pair = await connected();
    await h.as(pair.a).sync({ data: [{ pairId: pair.bPair, packetId: 1, blob: blob("to B") }] });
    await h.as(pair.b).sync({ data: [{ pairId: pair.aPair, packetId: 1, blob: blob("to A") }] });
    await internal().revokePairs({ pairIds: [pair.bPair] });
    for (const pairId of [pair.aPair, pair.bPair])
      expect([pairId, await countPackets(h.pool, pairId)]).toEqual([pairId, 0]);
    expect(
      await count("SELECT count(*) AS n FROM retired_pair WHERE pair_id = ANY($1)", [[pair.aPair, pair.bPair]]),
    ).toBe(2);
    for (const [who, to] of [
      [pair.a, pair.bPair],
      [pair.b, pair.aPair],
    ]) {
      await expect(h.as(who).sync({ data: [{ pairId: to, packetId: 2, blob: blob("after") }] })).rejects.toMatchObject({
        code: Code.PermissionDenied,
      });
    }
  });

  /** The backends blocked by `pid` (their lock waits on its transaction). */
  const blockedBy = async (pid: number) =>
    (
      await h.pool.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", [
        pid,
      ])
    ).rows.map((row) => row.pid);
  /** "sent", or the code the Sync was refused with. */
  const settle = <T>(promise: Promise<T>) =>
    promise.then(
      () => "sent",
      (error: unknown) => (error as { code: Code }).code,
    );

  /**
   * A's first Sync to `pair` does not find the route, asks the connection service (which
   * still lists it) and saves it; `revoke` runs while that save is inside its transaction,
   * past its retired checks. An uncommitted row under A's pairID (another transaction's)
   * holds the save there until the test rolls it back. The revocation must either wait for
   * the save and retire what it saved, or the save must find the pairIDs retired: never may
   * the route be saved after its revocation, so every later Sync is refused.
   */
  async function revokeDuringLookup(pair: Pair, revoke: () => Promise<unknown>) {
    h.connections.routes.set(pair.route.connectionId, pair.route);
    const holder = await h.pool.connect();
    try {
      await holder.query("BEGIN");
      await holder.query(
        `INSERT INTO route (pair_id, account_id, peer_pair_id, peer_account_id, connection_id, packet_life_ms)
         VALUES ($1, 'holder', $2, 'holder', 'holder', 1)`,
        [pair.aPair, randomUUID()],
      );
      const { rows } = await holder.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
      const sending = settle(h.as(pair.b).sync({ data: [{ pairId: pair.aPair, packetId: 1, blob: blob("x") }] }));
      let lookupPid = 0;
      await waitUntil(async () => ([lookupPid] = await blockedBy(rows[0].pid)).length === 1);
      h.connections.routes.delete(pair.route.connectionId);
      let revoked = false;
      const revoking = revoke().then(() => (revoked = true));
      // Until the revocation either finished or waits for the lookup's transaction.
      await waitUntil(async () => revoked || (await blockedBy(lookupPid)).length === 1);
      await holder.query("ROLLBACK");
      await revoking;
      // Stored and then purged by the break, or refused by it: either way nothing is left.
      expect(["sent", Code.PermissionDenied]).toContain(await sending);
    } finally {
      holder.release();
    }
    expect(await count("SELECT count(*) AS n FROM route WHERE pair_id = ANY($1)", [[pair.aPair, pair.bPair]])).toBe(0);
    expect(await countPackets(h.pool, pair.aPair)).toBe(0);
    await expect(
      h.as(pair.b).sync({ data: [{ pairId: pair.aPair, packetId: 2, blob: blob("after") }] }),
    ).rejects.toMatchObject({ code: Code.PermissionDenied });
  }

  it("a break while a fallback lookup is saving the connection: the lookup does not bring it back", async () => {
    const pair = newConnection();
    await revokeDuringLookup(pair, () => internal().revokePairs({ pairIds: [pair.aPair, pair.bPair] }));
  });

  it("an account deletion while a fallback lookup is saving one of its connections: the lookup does not bring it back", async () => {
    const pair = newConnection();
    await revokeDuringLookup(pair, () => internal().revokeAccount({ accountId: pair.a }));
  });

  it("a break naming a connection's pairIDs in either order while a lookup saves it: neither deadlocks", async () => {
    const pair = newConnection();
    h.connections.routes.set(pair.route.connectionId, pair.route);
    const [low, high] = [pair.aPair, pair.bPair].sort();
    const holder = await h.pool.connect();
    let sent: string | Code = "";
    try {
      // Holding the lower pairID's projection lock (db/routes.ts) queues the lookup on it first,
      // then the break, which names the higher pairID first.
      await holder.query("BEGIN");
      await holder.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`location-pair:${low}`]);
      const { rows } = await holder.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
      const sending = settle(h.as(pair.b).sync({ data: [{ pairId: pair.aPair, packetId: 1, blob: blob("x") }] }));
      await waitUntil(async () => (await blockedBy(rows[0].pid)).length === 1);
      h.connections.routes.delete(pair.route.connectionId);
      const revoking = internal().revokePairs({ pairIds: [high, low] });
      await waitUntil(async () => (await blockedBy(rows[0].pid)).length === 2);
      await holder.query("COMMIT");
      // A deadlock would cancel one of them: the break as Unavailable, or the lookup's Sync.
      await revoking;
      sent = await sending;
    } finally {
      holder.release();
    }
    expect(["sent", Code.PermissionDenied]).toContain(sent);
    expect(await count("SELECT count(*) AS n FROM route WHERE pair_id = ANY($1)", [[pair.aPair, pair.bPair]])).toBe(0);
  });

  it("after RevokeAccount no connection of the account is added again, not even by a late confirmation event or a fallback lookup", async () => {
    const pair = await connected();
    await internal().revokeAccount({ accountId: pair.a });
    await expect(
      h.as(pair.b).sync({ data: [{ pairId: pair.aPair, packetId: 1, blob: blob("x") }] }),
    ).rejects.toMatchObject({ code: Code.PermissionDenied });
    // A connection of the deleted account the relay had not heard of yet.
    const late = newConnection();
    const route = { ...late.route, initiatorAccountId: pair.a, recipientAccountId: late.b };
    h.connections.routes.set(route.connectionId, route);
    await h.events.publish(events.connectionConfirmed, { eventId: randomUUID(), route }, { msgId: randomUUID() });
    await expect(
      h.as(late.b).sync({ data: [{ pairId: late.aPair, packetId: 1, blob: blob("x") }] }),
    ).rejects.toMatchObject({ code: Code.PermissionDenied });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await count("SELECT count(*) AS n FROM route WHERE pair_id = ANY($1)", [[late.aPair, late.bPair]])).toBe(0);
  });
});

// Last: moves the shared clock past the window.
it("the idempotence record of a connection is dropped once its newest id is older than seven days", async () => {
  const pair = await connected();
  await h.as(pair.a).sync({ data: [1, 2, 3].map((packetId) => ({ pairId: pair.bPair, packetId, blob: blob("x") })) });
  await sweepOnce(h.location.context);
  expect(await count("SELECT count(*) AS n FROM seen_range WHERE recipient_pair_id = $1", [pair.bPair])).toBe(1);
  h.clock.advance(7 * DAY_MS + 1000);
  await sweepOnce(h.location.context);
  expect(await count("SELECT count(*) AS n FROM seen_range WHERE recipient_pair_id = $1", [pair.bPair])).toBe(0);
});
