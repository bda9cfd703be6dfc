import { Code, ConnectError } from "@connectrpc/connect";
import { LocationService } from "@seeme/contracts/location";
import { MemoryStorage, SeeMeClient, SimpleStatus, type InboxMessage } from "@seeme/client";
import { CALLER_HEADER, signCaller } from "@seeme/runtime/caller";
import { createGrpcClient } from "@seeme/runtime/grpc";
import { pair, syncUntil } from "../e2e/helpers.js";
import { servicePort, startCluster, type Cluster } from "./cluster.js";

/**
 * Issue 17 item 1: two replicas of every service, a 3-node JetStream cluster
 * (streams with 3 replicas), one PostgreSQL, devices spread over both gateways.
 */
let cluster: Cluster;
const started = Date.now();
const clients: Array<{ close(): void }> = [];

beforeAll(async () => {
  cluster = await startCluster("cluster");
  console.log(`cluster up in ${Date.now() - started} ms`);
}, 180_000);
afterAll(async () => {
  for (const client of clients) client.close();
  await cluster?.stop();
  console.log(`cluster suite ${Date.now() - started} ms`);
}, 60_000);

async function device(gateway: number): Promise<SeeMeClient> {
  const client = new SeeMeClient({
    storage: new MemoryStorage(),
    gatewayUrl: cluster.gatewayUrl(gateway),
    retry: { baseDelayMs: 50 },
  });
  clients.push(client);
  await client.register();
  return client;
}

/** LocationService on one relay replica as `accountId` (what that replica's gateway would send). */
function relay(replica: number, accountId: string) {
  const client = createGrpcClient(LocationService, `127.0.0.1:${servicePort("location", replica)}`, {
    headers: () => ({ [CALLER_HEADER]: signCaller(cluster.env.INTERNAL_AUTH_SECRET, accountId) }),
  });
  clients.push(client);
  return client;
}

const codeOf = async (call: Promise<unknown>) => {
  try {
    await call;
    return "OK";
  } catch (error) {
    return Code[ConnectError.from(error).code];
  }
};

test("a live stream on one relay replica gets the packet sent through the other", async () => {
  const alice = await device(0);
  const bob = await device(1);
  const ids = await pair(alice, bob);
  // The confirm event was consumed once by the two location replicas: exactly one 5/3 notice
  // (it tells Alice Bob's pairID).
  const inbox = await syncUntil(alice, (messages) =>
    messages.some((m) => m.kind === "server" && m.type === 5 && m.subType === 3),
  );
  expect(inbox.filter((m) => m.kind === "server" && m.type === 5 && m.subType === 3)).toHaveLength(1);
  const live = await bob.startLive();
  try {
    await live.caughtUp;
    const arrived = new Promise<InboxMessage>((resolve) => {
      const off = bob.events.on("message", (message) => {
        if (message.kind === "status") off(), resolve(message);
      });
    });
    const sentAt = Date.now();
    expect((await alice.sendStatus(SimpleStatus.OnMyWayHome)).sent).toHaveLength(1);
    expect(await arrived).toMatchObject({ status: SimpleStatus.OnMyWayHome, connection: ids.b });
    console.log(`live packet across replicas in ${Date.now() - sentAt} ms`);
  } finally {
    await live.stop();
  }
  // Alice's further syncs through the other gateway bring no second notice.
  expect((await alice.inbox()).filter((m) => m.kind === "server" && m.type === 5 && m.subType === 3)).toHaveLength(1);
}, 40_000);

test("a break through one replica is refused by the other relay replica at once", async () => {
  const carol = await device(0);
  const dave = await device(1);
  const ids = await pair(carol, dave);
  const daveId = (await dave.accountId())!;
  const toCarol = (await dave.connection(ids.b)).peerPairId!;
  const send = (replica: number, packetId: number) =>
    relay(replica, daveId).sync({ data: [{ pairId: toCarol, packetId, blob: new Uint8Array(200) }] });
  // Both relays accept Dave's packets before the break (so the refusal below is the break's doing).
  expect(await codeOf(send(1, 1))).toBe("OK");
  expect(await codeOf(send(0, 2))).toBe("OK");
  await carol.breakConnection(ids.a);
  // No waiting: the break returned only once a relay replica had applied it.
  expect([await codeOf(send(1, 3)), await codeOf(send(0, 4))]).toEqual(["PermissionDenied", "PermissionDenied"]);
});

test("an account deleted through one gateway is refused by both relay replicas at once", async () => {
  const erin = await device(0);
  const frank = await device(1);
  const ids = await pair(erin, frank);
  const erinId = (await erin.accountId())!;
  const frankId = (await frank.accountId())!;
  const toErin = (await frank.connection(ids.b)).peerPairId!;
  await syncUntil(erin, (messages) => messages.some((m) => m.kind === "server" && m.type === 5 && m.subType === 3));
  const toFrank = (await erin.connection(ids.a)).peerPairId!;
  await erin.deleteAccount();
  for (const replica of [0, 1]) {
    expect(
      await codeOf(
        relay(replica, erinId).sync({ data: [{ pairId: toFrank, packetId: 10 + replica, blob: new Uint8Array(200) }] }),
      ),
    ).toBe("PermissionDenied");
    expect(
      await codeOf(
        relay(replica, frankId).sync({ data: [{ pairId: toErin, packetId: 10 + replica, blob: new Uint8Array(200) }] }),
      ),
    ).toBe("PermissionDenied");
  }
  expect(await codeOf(erin.sync())).toMatch(/Unauthenticated|NotFound|FailedPrecondition|PermissionDenied/);
});
