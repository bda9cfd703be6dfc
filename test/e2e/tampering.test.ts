import type pg from "pg";
import { Movement, type RejectReason, type SeeMeClient } from "@seeme/client";
import { startStack, type Stack } from "../stack.js";
import { locationDatabase, newDevice, pair, syncUntil } from "./helpers.js";

/**
 * The relay is not trusted: here it is played by editing the location service's
 * packet table between the sender's Sync and the recipient's. Every kind of
 * tampering must be caught by the receiving SDK, and nothing tampered reaches
 * its inbox. Rejected packets are still acknowledged, so the relay drops them.
 */
let stack: Stack;
let db: pg.Pool;
let alice: SeeMeClient;
let bob: SeeMeClient;
let first: { a: string; b: string };
let second: { a: string; b: string };
const rejected: Array<{ packetId: number; reason: RejectReason; connection?: string }> = [];
const here = { movement: Movement.Walking, latitude: -33.8676, longitude: 151.2086, speedKmh: 5 };

beforeAll(async () => {
  stack = await startStack("e2e_tamper");
  db = locationDatabase(stack);
  alice = await newDevice(stack);
  bob = await newDevice(stack);
  // Two connections between the same devices (SPEC §1: one per device pair is usual, more are allowed).
  first = await pair(alice, bob);
  second = await pair(alice, bob);
  await syncUntil(alice, async () => (await alice.connections()).every((c) => c.status === "active"));
  bob.events.on("rejected", (event) => rejected.push(event));
}, 30_000);

afterAll(async () => {
  await db?.end();
  await stack?.stop();
});

const queued = async (pairId: string) =>
  (
    await db.query<{ packet_id: string; blob: Buffer }>(
      "SELECT packet_id, blob FROM packet WHERE recipient_pair_id = $1 ORDER BY packet_id",
      [pairId],
    )
  ).rows;

test("a flipped bit anywhere in a blob is rejected", async () => {
  // Version, HPKE enc, ciphertext (sender pairID, signature, inner header with the send time, payload) and tag:
  // a 46-character location seals to 208 bytes. The first packet is turned into a version 1 blob.
  const offsets = [0, 1, 33, 40, 140, 150, 180, 207];
  for (let i = 0; i < offsets.length; i++) await alice.sendText(`flip ${i}`, { to: first.a, sync: false });
  // Texts: locations share one latest-value slot at the relay, so only the newest would stay queued.
  await alice.sync();
  const rows = await queued(first.b);
  expect(rows).toHaveLength(offsets.length);
  for (const [i, row] of rows.entries()) {
    const blob = Buffer.from(row.blob);
    if (i === 0) blob[0] = 1;
    else blob[offsets[i]] ^= 1 << (i % 8);
    await db.query("UPDATE packet SET blob = $1 WHERE recipient_pair_id = $2 AND packet_id = $3", [
      blob,
      first.b,
      row.packet_id,
    ]);
  }
  rejected.length = 0;
  await bob.sync();
  expect(rejected.map((r) => r.packetId)).toEqual(rows.map((row) => Number(row.packet_id)));
  expect(rows[0].blob).toHaveLength(208);
  expect(rejected[0].reason).toBe("envelope-version");
  expect(new Set(rejected.slice(1).map((r) => r.reason))).toEqual(new Set(["envelope-unauthentic"]));
  expect((await bob.inbox()).filter((m) => m.kind === "text")).toEqual([]);
  expect(await queued(first.b)).toEqual([]);
});

test("a packet re-addressed from another connection is rejected", async () => {
  const sent = await alice.sendLocation(here, { to: first.a });
  const [packetId] = sent.sent[0].packetIds;
  // Move it to Bob's pairID of the second connection, under a packetID that connection has not used.
  await db.query(
    "UPDATE packet SET recipient_pair_id = $1, sender_pair_id = $2, packet_id = 900 WHERE recipient_pair_id = $3 AND packet_id = $4",
    [second.b, second.a, first.b, packetId],
  );
  rejected.length = 0;
  await bob.sync();
  expect(rejected).toEqual([{ packetId: 900, connection: second.b, reason: "envelope-unauthentic" }]);
  // Same packetID too: the AAD binds the recipient pairID, so the blob still fails.
  const again = await alice.sendLocation(here, { to: first.a, sync: false });
  const [id] = again.sent[0].packetIds;
  await alice.sync();
  await db.query(
    "UPDATE packet SET recipient_pair_id = $1, sender_pair_id = $2 WHERE recipient_pair_id = $3 AND packet_id = $4",
    [second.b, second.a, first.b, id],
  );
  rejected.length = 0;
  await bob.sync();
  expect(rejected).toEqual([{ packetId: id, connection: second.b, reason: "envelope-unauthentic" }]);
  expect((await bob.inbox()).filter((m) => m.kind === "location")).toEqual([]);
});

test("a replayed packet is rejected", async () => {
  await alice.sendLocation({ ...here, latitude: 10 }, { to: first.a });
  const [original] = await queued(first.b);
  await syncUntil(bob, (inbox) => inbox.some((m) => m.kind === "location" && m.latitude === 10));
  expect(await queued(first.b)).toEqual([]);
  // The relay stores the very same packet again after Bob acknowledged it.
  await db.query(
    "INSERT INTO packet (recipient_pair_id, packet_id, sender_pair_id, blob, stored_at, expires_at) VALUES ($1, $2, $3, $4, now(), now() + interval '1 day')",
    [first.b, original.packet_id, first.a, original.blob],
  );
  rejected.length = 0;
  await bob.sync();
  expect(rejected).toEqual([{ packetId: Number(original.packet_id), connection: first.b, reason: "replay" }]);
  expect((await bob.inbox()).filter((m) => m.kind === "location")).toHaveLength(1);
  expect(await queued(first.b)).toEqual([]);
});
