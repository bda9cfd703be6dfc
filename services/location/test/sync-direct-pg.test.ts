import { Code } from "@connectrpc/connect";
import { SyncTarget } from "@seeme/contracts/location";
import { openDatabase, type ServiceDatabase } from "@seeme/runtime/db";
import { startTcpProxy, type TcpProxy } from "@seeme/testkit/tcp-proxy";
import { GroupCommit } from "../src/db/group-commit.js";
import { blob, countPackets, newConnection, startHarness, type Harness } from "./helpers.js";

/**
 * Sync's statements run on `pg` directly (db/sync.ts, db/server-messages.ts,
 * runtime db/direct.ts), not through Prisma: a PostgreSQL outage there must still
 * answer Unavailable (retry), change nothing, and the retry must go through once
 * PostgreSQL is back. Here only the Sync path's pool goes through a proxy the test
 * cuts, so the outage is met by the direct statements, not by Prisma's queries.
 */
let h: Harness;
let proxy: TcpProxy;
let direct: ServiceDatabase;

beforeAll(async () => {
  h = await startHarness("location-sync-direct-pg");
  const target = new URL(h.env.LOCATION_DATABASE_URL);
  proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
  target.hostname = "127.0.0.1";
  target.port = String(proxy.port);
  direct = openDatabase(target.toString(), { poolSize: 2 });
  h.location.context.syncs = new GroupCommit(direct.sql, { windowMs: 0, maxBatch: 1 });
});
afterAll(async () => {
  await h.stop();
  await direct.end();
  await proxy.close();
});

test("a Sync statement that cannot reach PostgreSQL answers Unavailable and stores nothing; the retry stores it once", async () => {
  const pair = newConnection();
  await h.connect(pair);
  const a = h.as(pair.a);
  await a.sync({ data: [{ pairId: pair.bPair, packetId: 1, blob: blob("before") }] });
  const send = () => a.sync({ data: [{ pairId: pair.bPair, packetId: 2, blob: blob("during") }] });
  proxy.cut();
  try {
    await expect(send()).rejects.toMatchObject({ code: Code.Unavailable });
  } finally {
    proxy.restore();
  }
  expect(await countPackets(h.pool, pair.bPair)).toBe(1);
  const retried = await send();
  expect(retried.syncMeta).toEqual([
    expect.objectContaining({ target: SyncTarget.SENDER, pairId: pair.bPair, receivedPackets: [2] }),
  ]);
  expect(await countPackets(h.pool, pair.bPair)).toBe(2);
});

test("a Sync acknowledging server messages (a transaction) is Unavailable during an outage and acknowledges nothing", async () => {
  const pair = newConnection();
  await h.connect(pair);
  const a = h.as(pair.a);
  // Confirming the connection left a notice under "SERVER" for its initiator.
  const notices = (await a.sync({})).data.filter((packet) => packet.pairId === "SERVER");
  expect(notices).toHaveLength(1);
  const ack = () => a.sync({ lastPacketsReceived: [{ pairId: "SERVER", packetIds: [notices[0].packetId] }] });
  proxy.cut();
  try {
    await expect(ack()).rejects.toMatchObject({ code: Code.Unavailable });
  } finally {
    proxy.restore();
  }
  expect((await a.sync({})).data.filter((packet) => packet.pairId === "SERVER")).toHaveLength(1);
  expect((await ack()).syncMeta).toEqual([
    expect.objectContaining({ target: SyncTarget.RECIPIENT, pairId: "SERVER", deletedPackets: [notices[0].packetId] }),
  ]);
  expect((await a.sync({})).data.filter((packet) => packet.pairId === "SERVER")).toEqual([]);
});
