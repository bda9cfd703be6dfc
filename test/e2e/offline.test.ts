import { SimpleStatus, type InboxMessage, type SeeMeClient } from "@seeme/client";
import { startStack, type Stack } from "../stack.js";
import { newDevice, pair, syncUntil } from "./helpers.js";

/**
 * Issue #12's "must show", through the SDK API: with the whole stack stopped, an SOS and
 * "sharing off" are queued on the device (no network call comes first), report `queued` with
 * the real cause of the failed Sync, and reach the peer in order once the stack is back.
 */
let stack: Stack;
let alice: SeeMeClient;
let bob: SeeMeClient;
let ids: { a: string; b: string };
const SERVICES = ["identity", "connection", "location", "gateway"] as const;

beforeAll(async () => {
  stack = await startStack("e2e_offline");
  alice = await newDevice(stack);
  bob = await newDevice(stack);
  ids = await pair(alice, bob);
  await syncUntil(alice, async () => (await alice.connection(ids.a)).status === "active");
}, 30_000);

afterAll(async () => {
  await stack?.stop();
});

test("with the stack stopped, `send status sos` and `sharing off` are queued; once it is back the peer gets both, in order", async () => {
  for (const name of [...SERVICES].reverse()) await stack.stopService(name);

  const sos = await alice.sendStatus(SimpleStatus.Sos);
  expect(sos).toMatchObject({ outcome: "queued", sent: [{ connection: ids.a, packetIds: [1] }], failed: [] });
  // The cause is spelled out, not a bare "fetch failed".
  expect(sos.syncError?.message).toMatch(/gateway unreachable: .*ECONNREFUSED/);
  const off = await alice.setSharing(false);
  expect(off).toMatchObject({ outcome: "queued", sent: [{ connection: ids.a, packetIds: [2] }] });
  expect(await alice.sharing()).toBe(false);
  const queued = (await alice.storage.read()).outbox;
  expect(queued.map((packet) => [packet.packetId, packet.kind])).toEqual([
    [1, "status"],
    [2, "status"],
  ]);

  for (const name of SERVICES) await stack.startService(name);
  expect((await alice.sync()).sent).toBe(2);
  const inbox = await syncUntil(bob, (messages) => messages.filter((m) => m.kind === "status").length >= 2);
  const statuses = inbox.filter((m): m is Extract<InboxMessage, { kind: "status" }> => m.kind === "status");
  expect(statuses.map((m) => [m.packetId, m.status, m.sharing])).toEqual([
    [1, SimpleStatus.Sos, true],
    [2, SimpleStatus.LocationSharingOff, false],
  ]);
  expect((await bob.connection(ids.b)).peerSharing).toBe(false);
  expect(statuses[0].seq).toBeLessThan(statuses[1].seq);
});

test("a send with sync: false never touches the network and says so", async () => {
  const report = await alice.sendStatus(SimpleStatus.ImOk, { sync: false });
  expect(report).toMatchObject({ outcome: "queued", sent: [{ connection: ids.a }] });
  expect(report.syncError).toBeUndefined();
});
