import { create } from "@bufbuild/protobuf";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { SyncTarget } from "@seeme/contracts/location";
import { NOT_YOUR_CONNECTION } from "../src/access.js";
import {
  blob,
  countPackets,
  DAY_MS,
  newConnection,
  newPairId,
  startHarness,
  waitUntil,
  type Harness,
  type Pair,
} from "./helpers.js";

let h: Harness;

beforeAll(async () => {
  h = await startHarness("location-sync", { MAX_PACKETS_PER_SYNC: "20", SWEEP_INTERVAL: "50ms" });
});
afterAll(() => h.stop());

describe("Sync between two connected accounts", () => {
  it("relays packets, deletes only the acknowledged one and reports its delivery to the sender until acknowledged", async () => {
    const pair = newConnection();
    await h.connect(pair);
    const a = h.as(pair.a);
    const b = h.as(pair.b);

    const sent = await a.sync({
      data: [
        { pairId: pair.bPair, packetId: 7, blob: blob("hello B") },
        { pairId: pair.bPair, packetId: 8, blob: blob("still here") },
      ],
    });
    expect(sent.syncMeta).toEqual([
      expect.objectContaining({
        target: SyncTarget.SENDER,
        pairId: pair.bPair,
        receivedPackets: [7, 8],
        deliveredPackets: [],
      }),
    ]);
    expect(await countPackets(h.pool, pair.bPair)).toBe(2);

    const received = await b.sync({});
    const packets = received.data.filter((p) => p.pairId !== "SERVER");
    expect(packets.map((p) => p.packetId)).toEqual([7, 8]);
    expect(packets[0]).toMatchObject({ pairId: pair.bPair, packetId: 7, type: 0, subType: 0, text: "" });
    expect(new TextDecoder().decode(packets[0].blob)).toBe("hello B");
    const stored = Number(packets[0].storeTime!.seconds) * 1000;
    const expires = Number(packets[0].expireTime!.seconds) * 1000;
    expect(expires - stored).toBe(7 * DAY_MS);

    // Two packets wait under the pairID: acknowledging #7 deletes #7 only.
    const acked = await b.sync({ lastPacketsReceived: [{ pairId: pair.bPair, packetIds: [7] }] });
    expect(acked.syncMeta).toEqual([
      expect.objectContaining({ target: SyncTarget.RECIPIENT, pairId: pair.bPair, deletedPackets: [7] }),
    ]);
    expect(
      acked.data.filter((p) => p.pairId !== "SERVER").map((p) => [p.packetId, new TextDecoder().decode(p.blob)]),
    ).toEqual([[8, "still here"]]);
    expect(await countPackets(h.pool, pair.bPair)).toBe(1);

    const report = await a.sync({});
    expect(report.syncMeta).toEqual([
      expect.objectContaining({
        target: SyncTarget.SENDER,
        pairId: pair.bPair,
        receivedPackets: [],
        deliveredPackets: [7],
      }),
    ]);
    expect((await a.sync({ receiptsSeen: [{ pairId: pair.bPair, packetIds: [7] }] })).syncMeta).toEqual([]);

    await b.sync({ lastPacketsReceived: [{ pairId: pair.bPair, packetIds: [8] }] });
    expect(await countPackets(h.pool, pair.bPair)).toBe(0);
    expect((await a.sync({})).syncMeta).toEqual([
      expect.objectContaining({ target: SyncTarget.SENDER, pairId: pair.bPair, deliveredPackets: [8] }),
    ]);
  });

  it("keeps a receipt until the sender's next Sync acknowledges it: an answer lost on the way loses no receipt", async () => {
    const pair = newConnection();
    const other = newConnection();
    await h.connect(pair);
    await h.connect(other);
    const a = h.as(pair.a);
    const b = h.as(pair.b);
    await a.sync({ data: [{ pairId: pair.bPair, packetId: 5, blob: blob("five") }] });
    await b.sync({ lastPacketsReceived: [{ pairId: pair.bPair, packetIds: [5] }] });
    const receipt = [expect.objectContaining({ target: SyncTarget.SENDER, pairId: pair.bPair, deliveredPackets: [5] })];

    // The relay answered this Sync, but the answer never reached A's device.
    expect((await a.sync({})).syncMeta).toEqual(receipt);
    // A's next Sync still hears of the delivery.
    expect((await a.sync({})).syncMeta).toEqual(receipt);
    // Someone else acknowledging A's receipt takes nothing away from A.
    await h.as(other.a).sync({ receiptsSeen: [{ pairId: pair.bPair, packetIds: [5] }] });
    await b.sync({ receiptsSeen: [{ pairId: pair.bPair, packetIds: [5] }] });
    expect((await a.sync({})).syncMeta).toEqual(receipt);

    // Acknowledged: the Sync that says so no longer reports it, nor does any later one.
    expect((await a.sync({ receiptsSeen: [{ pairId: pair.bPair, packetIds: [5] }] })).syncMeta).toEqual([]);
    expect((await a.sync({})).syncMeta).toEqual([]);
    const { rows } = await h.pool.query("SELECT 1 FROM delivery_receipt WHERE recipient_pair_id = $1", [pair.bPair]);
    expect(rows).toEqual([]);
  });

  it("keeps the sender's receipts for the sender: the recipient or a third account syncing first takes none of them", async () => {
    const pair = newConnection();
    const other = newConnection();
    await h.connect(pair);
    await h.connect(other);
    const a = h.as(pair.a);
    const b = h.as(pair.b);
    const c = h.as(other.a);
    await a.sync({ data: [{ pairId: pair.bPair, packetId: 3, blob: blob("for B") }] });
    await b.sync({ lastPacketsReceived: [{ pairId: pair.bPair, packetIds: [3] }] });

    // Between the acknowledgement and the sender's next Sync, others sync: neither gets A's receipt.
    for (const someone of [c, b, h.as(other.b)]) {
      const { syncMeta } = await someone.sync({});
      expect(syncMeta.filter((meta) => meta.target === SyncTarget.SENDER)).toEqual([]);
    }
    const { rows } = await h.pool.query("SELECT packet_id FROM delivery_receipt WHERE recipient_pair_id = $1", [
      pair.bPair,
    ]);
    expect(rows.map((row) => Number(row.packet_id))).toEqual([3]);

    expect((await a.sync({})).syncMeta).toEqual([
      expect.objectContaining({
        target: SyncTarget.SENDER,
        pairId: pair.bPair,
        receivedPackets: [],
        deliveredPackets: [3],
      }),
    ]);
  });

  it("tells the initiator the connection was confirmed (5/3 with the recipient's pairID) until acknowledged", async () => {
    const pair = newConnection();
    await h.connect(pair);
    const a = h.as(pair.a);
    const { data } = await a.sync({});
    expect(data).toEqual([
      expect.objectContaining({ pairId: "SERVER", type: 5, subType: 3, text: pair.bPair, blob: new Uint8Array(0) }),
    ]);
    const ack = await a.sync({ lastPacketsReceived: [{ pairId: "SERVER", packetIds: [data[0].packetId] }] });
    expect(ack.syncMeta).toEqual([
      expect.objectContaining({ target: SyncTarget.RECIPIENT, pairId: "SERVER", deletedPackets: [data[0].packetId] }),
    ]);
    // Not even the Sync that acknowledges it shows it again.
    expect(ack.data).toEqual([]);
    expect((await a.sync({})).data).toEqual([]);
    expect((await h.as(pair.b).sync({})).data).toEqual([]);
  });

  it("stores a resent packet once, also after it was delivered", async () => {
    const pair = newConnection();
    await h.connect(pair);
    const a = h.as(pair.a);
    const b = h.as(pair.b);
    const packet = { pairId: pair.bPair, packetId: 1, blob: blob("once") };
    await a.sync({ data: [packet] });
    const again = await a.sync({ data: [packet] });
    expect(again.syncMeta[0].receivedPackets).toEqual([1]);
    expect(await countPackets(h.pool, pair.bPair)).toBe(1);
    expect((await b.sync({})).data.filter((p) => p.pairId === pair.bPair).map((p) => p.packetId)).toEqual([1]);

    await b.sync({ lastPacketsReceived: [{ pairId: pair.bPair, packetIds: [1] }] });
    await a.sync({ data: [packet] });
    expect(await countPackets(h.pool, pair.bPair)).toBe(0);
    expect((await b.sync({})).data.filter((p) => p.pairId === pair.bPair)).toEqual([]);
  });

  it("stores a packet that arrives after a higher id (a retry from another process), and reports only what it stored", async () => {
    const pair = newConnection();
    await h.connect(pair);
    const a = h.as(pair.a);
    await a.sync({ data: [{ pairId: pair.bPair, packetId: 5, blob: blob("five") }] });
    const late = await a.sync({ data: [{ pairId: pair.bPair, packetId: 4, blob: blob("four: SOS") }] });
    expect(late.syncMeta).toEqual([
      expect.objectContaining({ target: SyncTarget.SENDER, pairId: pair.bPair, receivedPackets: [4] }),
    ]);
    expect(await countPackets(h.pool, pair.bPair)).toBe(2);
    const received = (await h.as(pair.b).sync({})).data.filter((p) => p.pairId === pair.bPair);
    expect(received.map((p) => [p.packetId, new TextDecoder().decode(p.blob)])).toEqual([
      [5, "five"],
      [4, "four: SOS"],
    ]);
  });

  it("does not store a packet again while its receipt waits for the sender, and reports it received", async () => {
    const pair = newConnection();
    await h.connect(pair);
    const a = h.as(pair.a);
    const b = h.as(pair.b);
    await a.sync({ skipIncoming: true, data: [{ pairId: pair.bPair, packetId: 2, blob: blob("two") }] });
    await b.sync({ lastPacketsReceived: [{ pairId: pair.bPair, packetIds: [2] }] });
    // A resend in another process's Sync, before A heard of the delivery.
    const again = await a.sync({ skipIncoming: true, data: [{ pairId: pair.bPair, packetId: 2, blob: blob("two") }] });
    expect(again.syncMeta).toEqual([
      expect.objectContaining({ pairId: pair.bPair, receivedPackets: [2], deliveredPackets: [2] }),
    ]);
    expect(await countPackets(h.pool, pair.bPair)).toBe(0);
  });

  it("with skip_incoming, sends and acknowledges but returns nothing that waits", async () => {
    const pair = newConnection();
    await h.connect(pair);
    const a = h.as(pair.a);
    const b = h.as(pair.b);
    await a.sync({ data: [1, 2, 3].map((packetId) => ({ pairId: pair.bPair, packetId, blob: blob(`p${packetId}`) })) });

    const acked = await b.sync({
      skipIncoming: true,
      pageSize: 1,
      lastPacketsReceived: [{ pairId: pair.bPair, packetIds: [1] }],
    });
    expect(acked.data).toEqual([]);
    expect(acked.hasMore).toBe(false);
    expect(acked.syncMeta).toEqual([
      expect.objectContaining({ target: SyncTarget.RECIPIENT, pairId: pair.bPair, deletedPackets: [1] }),
    ]);
    expect(await countPackets(h.pool, pair.bPair)).toBe(2);

    const sent = await a.sync({ skipIncoming: true, data: [{ pairId: pair.bPair, packetId: 4, blob: blob("p4") }] });
    expect(sent.syncMeta).toEqual([
      expect.objectContaining({
        target: SyncTarget.SENDER,
        pairId: pair.bPair,
        receivedPackets: [4],
        deliveredPackets: [1],
      }),
    ]);
    expect((await b.sync({})).data.filter((p) => p.pairId === pair.bPair).map((p) => p.packetId)).toEqual([2, 3, 4]);
  });

  it("returns packets oldest first, in pages, with has_more (false on an exactly full last page)", async () => {
    const pair = newConnection();
    await h.connect(pair);
    const a = h.as(pair.a);
    for (const id of [10, 11, 12, 13]) {
      await a.sync({ data: [{ pairId: pair.bPair, packetId: id, blob: blob(`p${id}`) }] });
      h.clock.advance(1000);
    }
    const b = h.as(pair.b);
    const first = await b.sync({ pageSize: 2 });
    expect(first.data.map((p) => p.packetId)).toEqual([10, 11]);
    expect(first.hasMore).toBe(true);
    const second = await b.sync({ pageSize: 2, lastPacketsReceived: [{ pairId: pair.bPair, packetIds: [10, 11] }] });
    expect(second.data.map((p) => p.packetId)).toEqual([12, 13]);
    expect(second.hasMore).toBe(false);
  });
});

/**
 * Runs `sync` while the connection's break is held uncommitted: the access check still reads the
 * route, the statement's FOR UPDATE waits for it; the break commits once the Sync is blocked on
 * that lock. Returns how the Sync ended.
 */
async function syncDuringBreak(
  pair: Pair,
  sync: () => Promise<unknown>,
): Promise<{ response?: unknown; error?: unknown }> {
  const breaker = await h.pool.connect();
  try {
    await breaker.query("BEGIN");
    await breaker.query("DELETE FROM route WHERE pair_id = $1", [pair.bPair]);
    const { rows } = await breaker.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
    const sending = sync().then(
      (response) => ({ response }),
      (error: unknown) => ({ error }),
    );
    await waitUntil(
      async () =>
        (await h.pool.query("SELECT 1 FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", [rows[0].pid]))
          .rowCount === 1,
    );
    await breaker.query("COMMIT");
    return await sending;
  } finally {
    breaker.release();
  }
}

describe("one Sync is one transaction", () => {
  it("stores none of a Sync's packets when acknowledging its server message fails, and keeps the message", async () => {
    const pair = newConnection();
    await h.connect(pair);
    const { packetId: notice } = await h
      .admin()
      .queueServerMessage({ subType: 1, text: "for A", accountIds: [pair.a] });
    // A fault in the acknowledgement, the statement after the Sync statement (db/server-messages.ts).
    await h.pool.query(`CREATE FUNCTION fail_server_ack() RETURNS trigger LANGUAGE plpgsql
      AS $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$`);
    await h.pool.query(`CREATE TRIGGER fail_server_ack BEFORE DELETE ON server_message_recipient
      FOR EACH ROW EXECUTE FUNCTION fail_server_ack()`);
    const request = {
      data: [{ pairId: pair.bPair, packetId: 1, blob: blob("with the ack") }],
      lastPacketsReceived: [{ pairId: "SERVER", packetIds: [notice] }],
    };
    try {
      await expect(h.as(pair.a).sync(request)).rejects.toMatchObject({ code: Code.Internal });
    } finally {
      await h.pool.query("DROP TRIGGER fail_server_ack ON server_message_recipient");
      await h.pool.query("DROP FUNCTION fail_server_ack()");
    }
    expect(await countPackets(h.pool, pair.bPair)).toBe(0);
    // The retry stores the packet and acknowledges the message, once each.
    const retried = await h.as(pair.a).sync(request);
    expect(retried.syncMeta.find((m) => m.pairId === pair.bPair)?.receivedPackets).toEqual([1]);
    expect(retried.syncMeta.find((m) => m.pairId === "SERVER")?.deletedPackets).toEqual([notice]);
    expect(await countPackets(h.pool, pair.bPair)).toBe(1);
  });
});

describe("who may send, read and acknowledge", () => {
  it("refuses sending to a pairID the caller is not connected to, the same way whether it exists or not", async () => {
    const mine = newConnection();
    const theirs = newConnection();
    await h.connect(mine);
    await h.connect(theirs);
    const a = h.as(mine.a);
    const errors = [];
    for (const pairId of [theirs.bPair, newPairId(), mine.aPair]) {
      errors.push(await a.sync({ data: [{ pairId, packetId: 1, blob: blob("x") }] }).catch((e: unknown) => e));
    }
    for (const error of errors)
      expect(error).toMatchObject({ code: Code.PermissionDenied, rawMessage: NOT_YOUR_CONNECTION });
    expect(await countPackets(h.pool, theirs.bPair)).toBe(0);
    expect(await countPackets(h.pool, mine.aPair)).toBe(0);
  });

  it("refuses acknowledging another account's pairID, the same way whether it exists or not, and never shows its packets", async () => {
    const pair = newConnection();
    await h.connect(pair);
    await h.as(pair.b).sync({ data: [{ pairId: pair.aPair, packetId: 3, blob: blob("for A") }] });
    const stranger = newConnection();
    await h.connect(stranger);
    const intruder = h.as(stranger.a);
    for (const pairId of [pair.aPair, newPairId()]) {
      await expect(intruder.sync({ lastPacketsReceived: [{ pairId, packetIds: [3] }] })).rejects.toMatchObject({
        code: Code.PermissionDenied,
        rawMessage: NOT_YOUR_CONNECTION,
      });
    }
    // B may send to A's pairID but not acknowledge (delete) what waits there.
    await expect(
      h.as(pair.b).sync({ lastPacketsReceived: [{ pairId: pair.aPair, packetIds: [3] }] }),
    ).rejects.toMatchObject({ code: Code.PermissionDenied, rawMessage: NOT_YOUR_CONNECTION });
    expect((await intruder.sync({})).data.filter((p) => p.pairId === pair.aPair)).toEqual([]);
    expect(await countPackets(h.pool, pair.aPair)).toBe(1);
  });

  it("refuses, and reports nothing received, when the connection breaks between the access check and the statement", async () => {
    const pair = newConnection();
    await h.connect(pair);
    // Acknowledged in the refused Sync: it must stay pending too (a refused request changes nothing).
    const { packetId: notice } = await h
      .admin()
      .queueServerMessage({ subType: 1, text: "for A", accountIds: [pair.a] });
    // A delivery receipt A is told about, also acknowledged (receipts_seen) in the refused Sync.
    await h.as(pair.a).sync({ data: [{ pairId: pair.bPair, packetId: 7, blob: blob("arrived") }] });
    await h.as(pair.b).sync({ lastPacketsReceived: [{ pairId: pair.bPair, packetIds: [7] }] });
    const outcome = await syncDuringBreak(pair, () =>
      h.as(pair.a).sync({
        data: [{ pairId: pair.bPair, packetId: 1, blob: blob("too late") }],
        lastPacketsReceived: [{ pairId: "SERVER", packetIds: [notice] }],
        receiptsSeen: [{ pairId: pair.bPair, packetIds: [7] }],
      }),
    );
    // Not "received": the client would drop the packet from its outbox.
    expect(outcome).toEqual({
      error: expect.objectContaining({ code: Code.PermissionDenied, rawMessage: NOT_YOUR_CONNECTION }),
    });
    expect(await countPackets(h.pool, pair.bPair)).toBe(0);
    const after = await h.as(pair.a).sync({});
    expect(after.data.filter((p) => p.pairId === "SERVER").map((p) => p.packetId)).toContain(notice);
    // The receipt was not consumed by the refused Sync: it is still reported.
    expect(after.syncMeta.find((m) => m.pairId === pair.bPair)?.deliveredPackets).toEqual([7]);
  });

  it("refuses a first-time sender too when the connection breaks between the access check and the statement", async () => {
    // Unlike the test above, A has never sent under this pairID, so its access is checked before
    // the statement and not again after it: the refusal must come from the statement's verdict.
    const pair = newConnection();
    await h.connect(pair);
    const outcome = await syncDuringBreak(pair, () =>
      h.as(pair.a).sync({ data: [{ pairId: pair.bPair, packetId: 1, blob: blob("first, too late") }] }),
    );
    expect(outcome).toEqual({
      error: expect.objectContaining({ code: Code.PermissionDenied, rawMessage: NOT_YOUR_CONNECTION }),
    });
    expect(await countPackets(h.pool, pair.bPair)).toBe(0);
  });

  it("re-checks a known sender with the connection service when the statement finds no route, and sends", async () => {
    // Location's copy of the route is gone (a lagging or rebuilt projection) while the connection
    // service still holds the connection: the Sync asks it again and goes through, not refused.
    const pair = newConnection();
    await h.connect(pair);
    h.connections.routes.set(pair.route.connectionId, pair.route);
    await h.as(pair.a).sync({ data: [{ pairId: pair.bPair, packetId: 1, blob: blob("known now") }] });
    await h.pool.query("DELETE FROM route WHERE pair_id IN ($1, $2)", [pair.aPair, pair.bPair]);
    const asked = h.connections.calls.listAccountRoutes;
    const response = await h.as(pair.a).sync({ data: [{ pairId: pair.bPair, packetId: 2, blob: blob("again") }] });
    expect(response.syncMeta.find((m) => m.pairId === pair.bPair)?.receivedPackets).toEqual([2]);
    expect(h.connections.calls.listAccountRoutes).toBe(asked + 1);
    expect(await countPackets(h.pool, pair.bPair)).toBe(2);
  });

  it("refuses calls without a valid caller", async () => {
    const { createGrpcClient } = await import("@seeme/runtime/grpc");
    const { LocationService } = await import("@seeme/contracts/location");
    const anonymous = createGrpcClient(LocationService, h.address());
    await expect(anonymous.sync({})).rejects.toMatchObject({ code: Code.Unauthenticated });
    anonymous.close();
  });
});

describe("bad input is refused whole, with nothing stored", () => {
  let pair: ReturnType<typeof newConnection>;
  beforeAll(async () => {
    pair = newConnection();
    await h.connect(pair);
  });
  const ok = (packetId: number) => ({ pairId: pair.bPair, packetId, blob: blob("ok") });

  it.each([
    [
      "an oversized blob",
      () => [ok(1), { pairId: pair.bPair, packetId: 2, blob: new Uint8Array(4097) }],
      /data\[1\]\.blob is 4097 bytes; at most 4096/,
    ],
    [
      "an empty blob",
      () => [ok(1), { pairId: pair.bPair, packetId: 2, blob: new Uint8Array(0) }],
      /data\[1\]\.blob is empty/,
    ],
    ["too many packets", () => Array.from({ length: 21 }, (_, i) => ok(i + 1)), /21 packets; at most 20/],
    [
      "a malformed pairID",
      () => [ok(1), { pairId: "short", packetId: 2, blob: blob("x") }],
      /data\[1\]\.pair_id must be 40 characters/,
    ],
    [
      "a pairID with other characters",
      () => [ok(1), { pairId: `${"a".repeat(39)}-`, packetId: 2, blob: blob("x") }],
      /data\[1\]\.pair_id/,
    ],
    ["the SERVER pseudo-pairID", () => [{ pairId: "SERVER", packetId: 2, blob: blob("x") }], /data\[0\]\.pair_id/],
    ["a duplicate packet id", () => [ok(5), ok(6), ok(5)], /data\[2\] repeats/],
  ])("%s → InvalidArgument", async (_name, data, message) => {
    await expect(h.as(pair.a).sync({ data: data() })).rejects.toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: expect.stringMatching(message),
    });
    expect(await countPackets(h.pool, pair.bPair)).toBe(0);
  });

  it("refuses a malformed acknowledged pairID", async () => {
    await expect(
      h.as(pair.b).sync({
        lastPacketsReceived: [{ pairId: "nope", packetIds: [1] }],
        data: [{ pairId: pair.aPair, packetId: 1, blob: blob("x") }],
      }),
    ).rejects.toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: expect.stringMatching(/last_packets_received\[0\]\.pair_id/),
    });
    expect(await countPackets(h.pool, pair.aPair)).toBe(0);
  });

  it("refuses 20,000 acknowledgement entries for one pairID at once, without stalling the relay", async () => {
    // Each entry names the same pairID with a new id: merging them one by one
    // used to copy the growing list per entry (quadratic; seconds of blocked
    // event loop). The totals are checked before any merging now.
    const lastPacketsReceived = Array.from({ length: 20_000 }, (_, i) => ({ pairId: pair.bPair, packetIds: [i] }));
    const started = Date.now();
    await expect(h.as(pair.b).sync({ lastPacketsReceived })).rejects.toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: expect.stringMatching(/20000 entries; at most 1000/),
    });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("refuses too many acknowledgement entries or acknowledged packets, and merges repeated entries of one pairID", async () => {
    const b = h.as(pair.b);
    const manyEntries = Array.from({ length: 1001 }, () => ({ pairId: pair.bPair, packetIds: [] }));
    await expect(b.sync({ lastPacketsReceived: manyEntries })).rejects.toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: expect.stringMatching(/1001 entries; at most 1000/),
    });
    const manyAcks = Array.from({ length: 2 }, (_, e) => ({
      pairId: pair.bPair,
      packetIds: Array.from({ length: 2501 }, (_, i) => e * 2501 + i),
    }));
    await expect(b.sync({ lastPacketsReceived: manyAcks })).rejects.toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: expect.stringMatching(/acknowledges 5002 packets; at most 5000/),
    });

    const other = newConnection();
    await h.connect(other);
    await h
      .as(other.a)
      .sync({ data: [101, 102, 103].map((packetId) => ({ pairId: other.bPair, packetId, blob: blob("ok") })) });
    const acked = await h.as(other.b).sync({
      lastPacketsReceived: [
        { pairId: other.bPair, packetIds: [101, 102] },
        { pairId: other.bPair, packetIds: [102, 103] },
      ],
    });
    expect(acked.syncMeta).toEqual([
      expect.objectContaining({ target: SyncTarget.RECIPIENT, pairId: other.bPair, deletedPackets: [101, 102, 103] }),
    ]);
    expect(await countPackets(h.pool, other.bPair)).toBe(0);
  });

  it("accepts the uint32 boundary packet ids 0 and 4294967295", async () => {
    // packet_id is uint32 on the wire: a negative id cannot be encoded, so the
    // boundaries are what a client can send.
    const response = await h.as(pair.a).sync({ data: [ok(0), ok(4294967295)] });
    expect(response.syncMeta[0].receivedPackets).toEqual([0, 4294967295]);
    const received = await h.as(pair.b).sync({});
    expect(received.data.filter((p) => p.pairId === pair.bPair).map((p) => p.packetId)).toEqual([0, 4294967295]);
  });
});

describe("retention", () => {
  it("never returns an expired packet, and the sweeper deletes it", async () => {
    const pair = newConnection(60 * 60 * 1000);
    await h.connect(pair);
    await h.as(pair.a).sync({ data: [{ pairId: pair.bPair, packetId: 1, blob: blob("short-lived") }] });
    const [packet] = (await h.as(pair.b).sync({})).data.filter((p) => p.pairId === pair.bPair);
    expect(Number(packet.expireTime!.seconds) - Number(packet.storeTime!.seconds)).toBe(3600);

    h.clock.advance(60 * 60 * 1000 + 1000);
    expect((await h.as(pair.b).sync({})).data.filter((p) => p.pairId === pair.bPair)).toEqual([]);
    await waitUntil(async () => (await countPackets(h.pool, pair.bPair)) === 0);
  });

  it("keeps a packet for its connection's packet life to the millisecond (a fraction of one dropped)", async () => {
    const pair = newConnection();
    // 90.5009 s: whole seconds and nanoseconds both count; the 0.9 ms fraction does not.
    pair.route.packetLife = create(DurationSchema, { seconds: 90n, nanos: 500_900_000 });
    await h.connect(pair);
    await h.as(pair.a).sync({ data: [{ pairId: pair.bPair, packetId: 1, blob: blob("brief") }] });
    const { rows } = await h.pool.query<{ life: string }>(
      "SELECT (extract(epoch FROM expires_at - stored_at) * 1000)::text AS life FROM packet WHERE recipient_pair_id = $1",
      [pair.bPair],
    );
    expect(rows.map((row) => Number(row.life))).toEqual([90_500]);
  });

  it("caps a connection's packet life at seven days", async () => {
    const pair = newConnection(30 * DAY_MS);
    await h.connect(pair);
    await h.as(pair.a).sync({ data: [{ pairId: pair.bPair, packetId: 1, blob: blob("week") }] });
    const { rows } = await h.pool.query(
      "SELECT expires_at - stored_at AS life FROM packet WHERE recipient_pair_id = $1",
      [pair.bPair],
    );
    expect(rows[0].life).toMatchObject({ days: 7 });
    h.clock.advance(7 * DAY_MS);
    expect((await h.as(pair.b).sync({})).data.filter((p) => p.pairId === pair.bPair)).toEqual([]);
    await waitUntil(async () => (await countPackets(h.pool, pair.bPair)) === 0);
  });
});
