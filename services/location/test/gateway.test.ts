import { Code, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import pg from "pg";
import { ConnectionService } from "@seeme/contracts/connection";
import { IdentityService } from "@seeme/contracts/identity";
import { LocationService, SyncTarget, type IncomingPacket } from "@seeme/contracts/location";
import { registerAndSignIn, signIn, type TestAccount } from "@seeme/testkit/accounts";
import { pairAccounts } from "@seeme/testkit/pairing";
import { startStack, type Stack } from "../../../test/stack.js";
import { parseDatabaseUrl } from "@seeme/runtime/db";
import { NOT_YOUR_CONNECTION } from "../src/access.js";
import { blob, DAY_MS, newPairId, testClock, waitUntil } from "./helpers.js";

/**
 * The "must show", end to end: real gateway, identity, connection and
 * location services, PostgreSQL and NATS, driven like a device over gRPC.
 */
let stack: Stack;
let pool: pg.Pool;
const clock = testClock();
let transport: ReturnType<typeof createGrpcTransport>;
let A: TestAccount & { pairId: string; location: Client<typeof LocationService> };
let B: TestAccount & { pairId: string; location: Client<typeof LocationService> };

const auth = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

async function device(): Promise<TestAccount & { pairId: string; location: Client<typeof LocationService> }> {
  const account = await registerAndSignIn(createClient(IdentityService, transport));
  const location = createClient(LocationService, transport);
  const bound = {
    sync: (req: Parameters<typeof location.sync>[0]) => location.sync(req, auth(account.sessionToken)),
    subscribe: (req: Parameters<typeof location.subscribe>[0], opts: { signal: AbortSignal }) =>
      location.subscribe(req, { ...auth(account.sessionToken), signal: opts.signal }),
  } as Client<typeof LocationService>;
  return { ...account, pairId: newPairId(), location: bound };
}

async function connect(initiator: typeof A, recipient: typeof A): Promise<void> {
  await pairAccounts(createClient(ConnectionService, transport), initiator, recipient, {
    initiatorPairId: initiator.pairId,
    recipientPairId: recipient.pairId,
  });
}

const rows = async (pairId: string) =>
  Number((await pool.query("SELECT count(*) AS n FROM packet WHERE recipient_pair_id = $1", [pairId])).rows[0].n);
const peerPackets = (data: IncomingPacket[]) => data.filter((p) => p.pairId !== "SERVER");

/**
 * A device's Subscribe stream that, like a real client, reconnects after the
 * stream fails and drops what it already has (a new stream resends the backlog).
 */
function subscribeAs(who: typeof A) {
  const abort = new AbortController();
  const packets: IncomingPacket[] = [];
  const seen = new Set<string>();
  let caughtUp = false;
  const done = (async () => {
    while (!abort.signal.aborted) {
      try {
        for await (const event of who.location.subscribe({}, { signal: abort.signal })) {
          if (event.event.case === "caughtUp") caughtUp = true;
          else if (
            event.event.case === "packet" &&
            !seen.has(`${event.event.value.pairId}/${event.event.value.packetId}`)
          ) {
            seen.add(`${event.event.value.pairId}/${event.event.value.packetId}`);
            packets.push(event.event.value);
          }
        }
      } catch {
        // The service went away (or the test aborted): retry shortly.
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
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

beforeAll(async () => {
  stack = await startStack("location-e2e", {
    now: clock.now,
    env: { SWEEP_INTERVAL: "100ms" },
  });
  transport = createGrpcTransport({ baseUrl: stack.gatewayUrl });
  const target = parseDatabaseUrl(stack.databaseUrls.location);
  pool = new pg.Pool({ connectionString: target.connectionString, max: 2, options: `-c search_path=${target.schema}` });
  A = await device();
  B = await device();
  await connect(A, B);
}, 30_000);

afterAll(async () => {
  await pool?.end();
  await stack?.stop();
});

it("A sends; B receives through Subscribe and Sync; B acknowledges; the row is gone; A sees the delivery", async () => {
  const stream = subscribeAs(B);
  await waitUntil(stream.caughtUp);
  const sent = await A.location.sync({ data: [{ pairId: B.pairId, packetId: 1, blob: blob("where are you?") }] });
  expect(sent.syncMeta).toEqual([
    expect.objectContaining({ target: SyncTarget.SENDER, pairId: B.pairId, receivedPackets: [1] }),
  ]);

  await waitUntil(() => stream.packets.some((p) => p.pairId === B.pairId && p.packetId === 1));
  const synced = peerPackets((await B.location.sync({})).data);
  expect(synced.map((p) => [p.pairId, p.packetId, new TextDecoder().decode(p.blob)])).toEqual([
    [B.pairId, 1, "where are you?"],
  ]);
  expect(await rows(B.pairId)).toBe(1);

  const acked = await B.location.sync({ lastPacketsReceived: [{ pairId: B.pairId, packetIds: [1] }] });
  expect(acked.syncMeta).toEqual([
    expect.objectContaining({ target: SyncTarget.RECIPIENT, pairId: B.pairId, deletedPackets: [1] }),
  ]);
  expect(await rows(B.pairId)).toBe(0);

  const report = await A.location.sync({});
  expect(report.syncMeta).toEqual([
    expect.objectContaining({ target: SyncTarget.SENDER, pairId: B.pairId, deliveredPackets: [1] }),
  ]);
  // A also got the confirmed notice (5/3) carrying B's pairID.
  expect(report.data).toEqual([expect.objectContaining({ pairId: "SERVER", type: 5, subType: 3, text: B.pairId })]);
  await stream.close();
});

it("stores a resent packet once", async () => {
  const packet = { pairId: B.pairId, packetId: 2, blob: blob("twice") };
  await A.location.sync({ data: [packet] });
  await A.location.sync({ data: [packet] });
  expect(await rows(B.pairId)).toBe(1);
  expect(
    peerPackets((await B.location.sync({ lastPacketsReceived: [{ pairId: B.pairId, packetIds: [2] }] })).data),
  ).toEqual([]);
});

it("A cannot send to a pairID it is not connected to, nor read or acknowledge B's — one error whether the pairID exists or not", async () => {
  const C = await device();
  const D = await device();
  await connect(C, D);
  for (const pairId of [D.pairId, newPairId()]) {
    await expect(A.location.sync({ data: [{ pairId, packetId: 1, blob: blob("x") }] })).rejects.toMatchObject({
      code: Code.PermissionDenied,
      rawMessage: NOT_YOUR_CONNECTION,
    });
  }
  await A.location.sync({ data: [{ pairId: B.pairId, packetId: 3, blob: blob("for B only") }] });
  for (const pairId of [B.pairId, newPairId()]) {
    await expect(A.location.sync({ lastPacketsReceived: [{ pairId, packetIds: [3] }] })).rejects.toMatchObject({
      code: Code.PermissionDenied,
      rawMessage: NOT_YOUR_CONNECTION,
    });
  }
  expect(peerPackets((await A.location.sync({})).data)).toEqual([]);
  expect(await rows(D.pairId)).toBe(0);
  expect(await rows(B.pairId)).toBe(1);
  await B.location.sync({ lastPacketsReceived: [{ pairId: B.pairId, packetIds: [3] }] });
});

it("refuses oversized blobs, too many packets, malformed pairIDs and duplicate ids with InvalidArgument, storing nothing", async () => {
  const ok = (packetId: number) => ({ pairId: B.pairId, packetId, blob: blob("ok") });
  const bad = [
    [ok(10), { pairId: B.pairId, packetId: 11, blob: new Uint8Array(4097) }],
    Array.from({ length: 501 }, (_, i) => ok(10 + i)),
    [ok(10), { pairId: "not-a-pair-id", packetId: 11, blob: blob("x") }],
    // packet_id is uint32 on the wire, so a negative id cannot be sent; duplicates can.
    [ok(10), ok(10)],
  ];
  for (const data of bad) {
    await expect(A.location.sync({ data })).rejects.toMatchObject({ code: Code.InvalidArgument });
  }
  expect(await rows(B.pairId)).toBe(0);
});

it("a location service restart loses no stored packet, and a reconnecting subscriber receives what it missed", async () => {
  const first = subscribeAs(B);
  await waitUntil(first.caughtUp);
  await first.close();
  await A.location.sync({ data: [{ pairId: B.pairId, packetId: 30, blob: blob("before restart") }] });
  await stack.stopService("location");
  await stack.startService("location");
  const second = subscribeAs(B);
  await waitUntil(second.caughtUp, 10_000);
  expect(second.packets.map((p) => [p.pairId, p.packetId])).toEqual([[B.pairId, 30]]);
  await A.location.sync({ data: [{ pairId: B.pairId, packetId: 31, blob: blob("after restart") }] });
  await waitUntil(() => second.packets.length === 2);
  await second.close();
  const { data } = await B.location.sync({ lastPacketsReceived: [{ pairId: B.pairId, packetIds: [30, 31] }] });
  expect(peerPackets(data)).toEqual([]);
  expect(await rows(B.pairId)).toBe(0);
}, 30_000);

// Last: the stack shares one clock, so moving it a week on also ends the sessions.
it("never returns expired packets, and the sweeper deletes them", async () => {
  await A.location.sync({ data: [{ pairId: B.pairId, packetId: 40, blob: blob("old news") }] });
  expect(await rows(B.pairId)).toBe(1);
  clock.advance(7 * DAY_MS + 1000);
  const token = await signIn(createClient(IdentityService, transport), B);
  const { data } = await createClient(LocationService, transport).sync({}, auth(token));
  expect(peerPackets(data)).toEqual([]);
  await waitUntil(async () => (await rows(B.pairId)) === 0);
});
