import { Code, ConnectError, createContextValues, createHandlerContext } from "@connectrpc/connect";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { TimestampSchema, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { LocationService, type SubscribeResponse, type SubscribeResponseSchema } from "@seeme/contracts/location";
import { inboxUpdated } from "@seeme/contracts/subjects";
import { callerKey } from "@seeme/runtime/caller";
import { BACKLOG_ONLY_HEADER } from "@seeme/runtime/live-stream";
import { subscribe } from "../src/rpc/subscribe.js";
import { sweepOnce } from "../src/sweeper.js";
import { blob, countPackets, DAY_MS, newConnection, startHarness, waitUntil, type Harness } from "./helpers.js";

let h: Harness;

beforeAll(async () => {
  h = await startHarness("location-subscribe", {
    MAX_PACKETS_PER_SYNC: "30",
    SENDER_PACKET_BURST: "40",
    SENDER_PACKETS_PER_SECOND: "1",
    RECIPIENT_PACKET_BURST: "25",
    RECIPIENT_PACKETS_PER_SECOND: "1",
    SUBSCRIBE_MAX_STREAMS_PER_ACCOUNT: "2",
  });
});
afterAll(() => h.stop());

/** Reads a Subscribe stream in the background until aborted. */
function open(accountId: string) {
  const abort = new AbortController();
  const received: SubscribeResponse[] = [];
  const done = (async () => {
    try {
      for await (const event of h.as(accountId).subscribe({}, { signal: abort.signal })) received.push(event);
    } catch {
      // Cancelled by the test.
    }
  })();
  const packets = () => received.flatMap((e) => (e.event.case === "packet" ? [e.event.value] : []));
  return {
    received,
    packets,
    caughtUp: () => received.some((e) => e.event.case === "caughtUp"),
    async close() {
      abort.abort();
      await done;
    },
  };
}

describe("Subscribe", () => {
  it("streams the backlog, caught_up, then each new packet as it is stored, without repeats", async () => {
    const pair = newConnection();
    await h.connect(pair);
    const a = h.as(pair.a);
    await a.sync({ data: [{ pairId: pair.bPair, packetId: 1, blob: blob("queued") }] });
    const stream = open(pair.b);
    await waitUntil(stream.caughtUp);
    expect(stream.received.map((e) => e.event.case)).toEqual(["packet", "caughtUp"]);
    expect(stream.packets()[0]).toMatchObject({ pairId: pair.bPair, packetId: 1 });

    await a.sync({ data: [{ pairId: pair.bPair, packetId: 2, blob: blob("live") }] });
    await waitUntil(() => stream.packets().length === 2, 2000);
    expect(new TextDecoder().decode(stream.packets()[1].blob)).toBe("live");
    // A push is the very message a Sync returns for the packet: no field more or less.
    const viaSync = (await h.as(pair.b).sync({})).data;
    expect(stream.packets()).toEqual(viaSync.filter((p) => p.pairId === pair.bPair));
    // Nothing the stream already sent is sent again.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(stream.packets().map((p) => p.packetId)).toEqual([1, 2]);

    // Acknowledgement still goes through Sync.
    await h.as(pair.b).sync({ lastPacketsReceived: [{ pairId: pair.bPair, packetIds: [1, 2] }] });
    expect(await countPackets(h.pool, pair.bPair)).toBe(0);
    await stream.close();
  });

  it("pushes server messages, and a reconnecting subscriber gets what it missed", async () => {
    const pair = newConnection();
    await h.connect(pair);
    const first = open(pair.b);
    await waitUntil(first.caughtUp);
    await first.close();
    await h.as(pair.a).sync({ data: [{ pairId: pair.bPair, packetId: 9, blob: blob("while away") }] });
    const second = open(pair.b);
    await waitUntil(second.caughtUp);
    expect(second.packets().map((p) => p.packetId)).toEqual([9]);

    const { packetId } = await h
      .admin()
      .queueServerMessage({ subType: 1, text: "Maintenance tonight", accountIds: [pair.b] });
    await waitUntil(() => second.packets().some((p) => p.pairId === "SERVER"), 2000);
    expect(second.packets()[1]).toMatchObject({
      pairId: "SERVER",
      packetId,
      type: 6,
      subType: 1,
      text: "Maintenance tonight",
    });
    await second.close();
  });
  it("does not announce a held packet (check-in) when it is stored, only what is visible now", async () => {
    const pair = newConnection();
    await h.connect(pair);
    const stream = open(pair.b);
    await waitUntil(stream.caughtUp);
    const releaseAt = timestampFromMs(h.clock.now().getTime() + 3_600_000);
    await h.as(pair.a).sync({
      data: [
        { pairId: pair.bPair, packetId: 1, blob: blob("held until I say"), releaseAt },
        { pairId: pair.bPair, packetId: 2, blob: blob("now") },
      ],
    });
    await waitUntil(() => stream.packets().some((p) => p.packetId === 2), 2000);
    // Both were announced in one hint, so the held one would have arrived with it.
    expect(stream.packets().map((p) => p.packetId)).toEqual([2]);
    await stream.close();
  });
});

describe("numbered hints", () => {
  it("a gap in a publisher's numbering makes every open stream re-read the database once; an unbroken sequence does not", async () => {
    const pair = newConnection();
    await h.connect(pair);
    const stream = open(pair.b);
    await waitUntil(stream.caughtUp);
    const live = h.location.context.live;
    const hint = (seq: bigint) =>
      h.events.publishCore(inboxUpdated.forAccount(pair.b), inboxUpdated.schema, {
        accountId: pair.b,
        packets: [],
        publisher: "another-location-process",
        seq,
      });
    const before = live.rereads;
    hint(1n);
    hint(2n);
    hint(3n);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(live.rereads).toBe(before);
    // Hints 4 and 5 were lost.
    hint(6n);
    await waitUntil(() => live.rereads > before);
    expect(live.rereads - before).toBe(live.streams);
    await stream.close();
  });
});

describe("Subscribe resource limits", () => {
  it("a client that stops reading cannot make the stream buffer without limit: past 1,000 hinted packets it re-reads the database", async () => {
    const pair = newConnection();
    await h.connect(pair);
    // The handler itself, so the test decides when the "client" reads.
    const abort = new AbortController();
    const call = createHandlerContext({
      service: LocationService,
      method: LocationService.method.subscribe,
      protocolName: "grpc",
      requestMethod: "POST",
      url: "/seeme.location.v1.LocationService/Subscribe",
      requestSignal: abort.signal,
      contextValues: createContextValues().set(callerKey, pair.b),
    });
    const stream = subscribe(h.location.context)({}, call);
    try {
      expect((await stream.next()).value).toMatchObject({ event: { case: "caughtUp" } });

      // While the stream waits for its client, 17 hints of 64 packets arrive that
      // are not in the database, then a packet that is stored.
      let hints = 0;
      const probe = h.events.subscribeCore(inboxUpdated.forAccount(pair.b), inboxUpdated.schema, () => void hints++);
      for (let n = 0; n < 17; n++) {
        const packets = Array.from({ length: 64 }, (_, i) => ({
          pairId: pair.bPair,
          packetId: 10_000 + n * 64 + i,
          blob: blob("ghost"),
        }));
        h.events.publishCore(inboxUpdated.forAccount(pair.b), inboxUpdated.schema, { accountId: pair.b, packets });
      }
      await waitUntil(() => hints === 17);
      await new Promise((resolve) => setTimeout(resolve, 200));
      await h.as(pair.a).sync({ data: [{ pairId: pair.bPair, packetId: 1, blob: blob("stored") }] });
      await waitUntil(() => hints === 18);
      await new Promise((resolve) => setTimeout(resolve, 200));
      probe.unsubscribe();

      // The client reads again: it gets what the database holds, not the dropped buffer.
      const got: MessageInitShape<typeof SubscribeResponseSchema>[] = [];
      for (;;) {
        const next = await Promise.race([
          stream.next(),
          new Promise<null>((resolve) => setTimeout(() => resolve(null), 500)),
        ]);
        if (next === null || next.done) break;
        got.push(next.value);
        if (got.length > 2000) break;
      }
      expect(got).toHaveLength(1);
      expect(got[0]).toMatchObject({ event: { case: "packet", value: { pairId: pair.bPair, packetId: 1 } } });
    } finally {
      abort.abort();
      await stream.return(undefined);
    }
  });

  it("limits concurrent streams per account with ResourceExhausted, and frees the slot when a stream ends", async () => {
    const [account, other] = [newConnection().a, newConnection().a];
    const first = open(account);
    const second = open(account);
    await waitUntil(() => first.caughtUp() && second.caughtUp());
    const firstEvent = async (accountId: string, signal: AbortSignal) => {
      const next = await h.as(accountId).subscribe({}, { signal })[Symbol.asyncIterator]().next();
      return next.value;
    };
    const refused = new AbortController();
    await expect(firstEvent(account, refused.signal)).rejects.toMatchObject({
      code: Code.ResourceExhausted,
      rawMessage: expect.stringMatching(/2 open Subscribe streams/),
    });
    refused.abort();

    const others = new AbortController();
    expect(await firstEvent(other, others.signal)).toMatchObject({ event: { case: "caughtUp" } });
    others.abort();

    await first.close();
    const third = new AbortController();
    await waitUntil(async () => {
      try {
        return (await firstEvent(account, third.signal))?.event.case === "caughtUp";
      } catch (error) {
        if (ConnectError.from(error).code === Code.ResourceExhausted) return false;
        throw error;
      }
    });
    third.abort();
    await second.close();
  });

  it("a backlog-only read (the gateway holding the stream) sends what is queued, caught_up, and ends, taking no slot", async () => {
    const pair = newConnection();
    await h.connect(pair);
    await h.as(pair.a).sync({ data: [{ pairId: pair.bPair, packetId: 1, blob: blob("queued") }] });
    // Both of the account's slots (SUBSCRIBE_MAX_STREAMS_PER_ACCOUNT 2) are taken by live streams.
    const [first, second] = [open(pair.b), open(pair.b)];
    await waitUntil(() => first.caughtUp() && second.caughtUp());
    const read = async () => {
      const events: string[] = [];
      for await (const { event } of h.as(pair.b).subscribe({}, { headers: { [BACKLOG_ONLY_HEADER]: "1" } }))
        events.push(event.case === "packet" ? `packet ${event.value.packetId}` : `${event.case}`);
      return events;
    };
    // Three at once, past the cap: each ends by itself after caught_up.
    expect(await Promise.all([read(), read(), read()])).toEqual([
      ["packet 1", "caughtUp"],
      ["packet 1", "caughtUp"],
      ["packet 1", "caughtUp"],
    ]);
    await Promise.all([first.close(), second.close()]);
  });
});

describe("QueueServerMessage (admin)", () => {
  it("requires the admin credential", async () => {
    await expect(h.admin("x".repeat(48)).queueServerMessage({ subType: 1, text: "hi" })).rejects.toMatchObject({
      code: Code.PermissionDenied,
    });
    const { createGrpcClient } = await import("@seeme/runtime/grpc");
    const { LocationAdminService } = await import("@seeme/contracts/location");
    const { CALLER_HEADER, signCaller } = await import("@seeme/runtime/caller");
    const { SECRET } = await import("./helpers.js");
    // A client's (gateway-signed) caller credential is not an admin credential.
    const asClient = createGrpcClient(LocationAdminService, h.address(), {
      headers: () => ({ [CALLER_HEADER]: signCaller(SECRET, "acct") }),
    });
    await expect(asClient.queueServerMessage({ subType: 1, text: "hi" })).rejects.toMatchObject({
      code: Code.PermissionDenied,
    });
    asClient.close();
  });

  it.each([
    ["sub_type 0", { subType: 0, text: "x" }, /sub_type/],
    ["sub_type 9", { subType: 9, text: "x" }, /sub_type/],
    ["empty text", { subType: 1, text: "  " }, /text is required/],
    ["a past expiry", { subType: 1, text: "x", expireTime: timestampFromMs(Date.now() - 1000) }, /future/],
    [
      "an expiry beyond seven days",
      { subType: 1, text: "x", expireTime: timestampFromMs(Date.now() + 8 * DAY_MS) },
      /seven days/,
    ],
    // Beyond what a JavaScript Date can hold (±8.64e15 ms): timestampDate gives an Invalid Date.
    [
      "an expiry past the end of time",
      { subType: 1, text: "x", expireTime: create(TimestampSchema, { seconds: 10_000_000_000_000n }) },
      /expire_time is out of range/,
    ],
    [
      "an expiry before the start of time",
      { subType: 1, text: "x", expireTime: create(TimestampSchema, { seconds: -10_000_000_000_000n }) },
      /expire_time is out of range/,
    ],
  ])("refuses %s", async (_name, request, message) => {
    await expect(h.admin().queueServerMessage(request)).rejects.toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: expect.stringMatching(message),
    });
  });

  it("broadcasts to every account until each acknowledges, and drops it at its expiry", async () => {
    const one = newConnection();
    const expireTime = timestampFromMs(h.clock.now().getTime() + 60_000);
    const { packetId } = await h.admin().queueServerMessage({ subType: 3, text: "Heavy load", expireTime });
    const serverPackets = async (accountId: string) =>
      (await h.as(accountId).sync({})).data.filter((p) => p.pairId === "SERVER" && p.packetId === packetId);
    expect(await serverPackets(one.a)).toEqual([expect.objectContaining({ type: 6, subType: 3, text: "Heavy load" })]);
    await h.as(one.a).sync({ lastPacketsReceived: [{ pairId: "SERVER", packetIds: [packetId] }] });
    expect(await serverPackets(one.a)).toEqual([]);
    expect(await serverPackets(one.b)).toHaveLength(1);
    h.clock.advance(61_000);
    expect(await serverPackets(one.b)).toEqual([]);
  });
  it("an addressed message stays for its other recipients when one acknowledges, and is deleted after the last", async () => {
    const one = newConnection();
    const admin = h.admin();
    // The broadcast is queued first, so its id is the lower one.
    const { packetId: everyone } = await admin.queueServerMessage({ subType: 3, text: "To all" });
    const { packetId: both } = await admin.queueServerMessage({
      subType: 1,
      text: "To the two of you",
      accountIds: [one.a, one.b],
    });
    const serverIds = async (accountId: string) =>
      (await h.as(accountId).sync({})).data.filter((p) => p.pairId === "SERVER").map((p) => p.packetId);
    const rows = async () =>
      (
        await h.pool.query("SELECT id FROM server_message WHERE id = ANY($1::int[]) ORDER BY id", [[everyone, both]])
      ).rows.map((r) => r.id as number);
    expect(await serverIds(one.b)).toEqual(expect.arrayContaining([everyone, both]));

    const acked = await h.as(one.a).sync({ lastPacketsReceived: [{ pairId: "SERVER", packetIds: [both, everyone] }] });
    // Reported in id order, whichever kind each is.
    expect(acked.syncMeta.find((m) => m.pairId === "SERVER")?.deletedPackets).toEqual([everyone, both]);
    expect(await serverIds(one.a)).not.toEqual(expect.arrayContaining([everyone]));
    expect(await serverIds(one.a)).not.toEqual(expect.arrayContaining([both]));
    // The other recipient still gets both; both rows stay.
    expect(await serverIds(one.b)).toEqual(expect.arrayContaining([everyone, both]));
    expect(await rows()).toEqual([everyone, both]);

    await h.as(one.b).sync({ lastPacketsReceived: [{ pairId: "SERVER", packetIds: [both] }] });
    // Nobody waits for the addressed one any more: its row is gone at once. The broadcast stays (new accounts get it).
    expect(await rows()).toEqual([everyone]);
  });

  it("the sweeper deletes an addressed message nobody waits for, and keeps broadcasts, which have no recipient rows", async () => {
    const one = newConnection();
    const admin = h.admin();
    const { packetId: everyone } = await admin.queueServerMessage({ subType: 3, text: "To all, kept" });
    const { packetId: orphan } = await admin.queueServerMessage({ subType: 1, text: "Orphaned", accountIds: [one.a] });
    const { packetId: waited } = await admin.queueServerMessage({
      subType: 1,
      text: "Waited for",
      accountIds: [one.b],
    });
    // As an account deletion leaves it: the message row without its last recipient.
    await h.pool.query("DELETE FROM server_message_recipient WHERE message_id = $1", [orphan]);
    await sweepOnce(h.location.context);
    const rows = await h.pool.query("SELECT id FROM server_message WHERE id = ANY($1::int[]) ORDER BY id", [
      [everyone, orphan, waited],
    ]);
    expect(rows.rows.map((r) => r.id as number)).toEqual([everyone, waited]);
  });

  it("the last message id the sequence can give (2^31 - 1) can be acknowledged", async () => {
    const one = newConnection();
    const sequence = "pg_get_serial_sequence('server_message', 'id')";
    const { rows } = await h.pool.query<{ last: string }>(
      `SELECT coalesce(pg_sequence_last_value(${sequence}), 1)::text AS last`,
    );
    await h.pool.query(`SELECT setval(${sequence}, 2147483646)`);
    try {
      const { packetId } = await h.admin().queueServerMessage({ subType: 1, text: "Last one", accountIds: [one.a] });
      expect(packetId).toBe(2_147_483_647);
      const acked = await h.as(one.a).sync({ lastPacketsReceived: [{ pairId: "SERVER", packetIds: [packetId] }] });
      expect(acked.syncMeta.find((m) => m.pairId === "SERVER")?.deletedPackets).toEqual([packetId]);
      expect((await h.as(one.a).sync({})).data.filter((p) => p.packetId === packetId)).toEqual([]);
    } finally {
      // The suite's later messages take ids after the ones it used before.
      await h.pool.query("DELETE FROM server_message WHERE id = 2147483647");
      await h.pool.query(`SELECT setval(${sequence}, $1::bigint)`, [rows[0].last]);
    }
  });

  it("an acknowledgement of a SERVER id beyond any message id is answered, not an error", async () => {
    const one = newConnection();
    const response = await h
      .as(one.a)
      .sync({ lastPacketsReceived: [{ pairId: "SERVER", packetIds: [2_147_483_648, 4_294_967_295] }] });
    expect(response.syncMeta.find((m) => m.pairId === "SERVER")?.deletedPackets).toEqual([]);
  });
});

describe("rate limits", () => {
  it("refuses a sender or a recipient over its limit with ResourceExhausted, storing nothing", async () => {
    const pair = newConnection();
    await h.connect(pair);
    const packets = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => ({ pairId: pair.bPair, packetId: from + i, blob: blob("x") }));
    await expect(h.as(pair.a).sync({ data: packets(1, 26) })).rejects.toMatchObject({
      code: Code.ResourceExhausted,
      rawMessage: expect.stringMatching(/pair_id/),
    });
    expect(await countPackets(h.pool, pair.bPair)).toBe(0);

    // The sender's bucket (40) was drawn by the refused 26; a second 20 exceeds it.
    await expect(h.as(pair.a).sync({ data: packets(100, 20) })).rejects.toMatchObject({
      code: Code.ResourceExhausted,
      rawMessage: expect.stringMatching(/this account/),
    });
    expect(await countPackets(h.pool, pair.bPair)).toBe(0);
  });
});
