import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type pg from "pg";
import {
  Movement,
  SeeMeClient,
  SimpleStatus,
  connectionPublicKeys,
  encodeInner,
  generateConnectionKeyPairs,
  importConnectionKeyPairs,
  seal,
  type InboxMessage,
  type RejectReason,
} from "@seeme/client";
import { FileStorage } from "@seeme/client/file-storage";
import { encodeRekey } from "@seeme/client/key-rotation";
import { startStack, type Stack } from "../stack.js";
import { locationDatabase, newDevice, pair, syncUntil } from "./helpers.js";

/**
 * In-band key rotation (SPEC §8) through the real stack: new keys travel sealed under the old
 * ones, packets in flight both ways still open, replayed and forged rotation messages are
 * refused, and the old secrets leave the device's storage once the grace window has passed.
 */
let stack: Stack;
let db: pg.Pool;
let home: string;
let clock = 0;
let alice: SeeMeClient;
let bob: SeeMeClient;
let ids: { a: string; b: string };
const rejected: Array<{ packetId: number; reason: RejectReason }> = [];
const here = { movement: Movement.Walking, latitude: -33.8676, longitude: 151.2086, speedKmh: 5 };
const now = () => new Date(Date.now() + clock);

beforeAll(async () => {
  stack = await startStack("e2e_rotation");
  db = locationDatabase(stack);
  home = await mkdtemp(join(tmpdir(), "see-me-rotation-"));
  alice = new SeeMeClient({
    storage: FileStorage.inHome(home),
    gatewayUrl: stack.gatewayUrl,
    now,
    retry: { baseDelayMs: 50 },
  });
  await alice.register();
  bob = await newDevice(stack);
  ids = await pair(alice, bob);
  await syncUntil(alice, async () => (await alice.connection(ids.a)).status === "active");
  bob.events.on("rejected", (event) => rejected.push(event));
}, 30_000);

afterAll(async () => {
  alice?.close();
  bob?.close();
  await db?.end();
  await stack?.stop();
  if (home) await rm(home, { recursive: true, force: true });
});

const side = async (client: SeeMeClient, pairId: string) =>
  (await client.storage.read()).connections.find((c) => c.pairId === pairId)!;
const statuses = (inbox: InboxMessage[]) => inbox.flatMap((m) => (m.kind === "status" ? [m.status] : []));
const latitudes = (inbox: InboxMessage[]) => inbox.flatMap((m) => (m.kind === "location" ? [m.latitude] : []));

test("rotation with packets in flight both ways: every packet opens, both sides end on new keys", async () => {
  const aliceBefore = await side(alice, ids.a);
  const bobBefore = await side(bob, ids.b);

  // In flight before the rotation: sealed under the old keys, both ways.
  await alice.sendLocation({ ...here, latitude: 1 }, { sync: false });
  await bob.sendStatus(SimpleStatus.ImOk, { sync: false });
  const offer = await alice.rotateKeys(ids.a, { sync: false });
  expect(offer.sent[0].packetIds).toHaveLength(1);
  await expect(alice.rotateKeys(ids.a)).rejects.toMatchObject({ message: /already waiting/ });
  await alice.sync();

  // Bob sends his old-key status, takes the offer, switches and confirms; then sends under his new keys.
  const bobSteps: string[] = [];
  bob.events.on("rekeyed", (event) => bobSteps.push(event.step));
  await syncUntil(bob, (inbox) => latitudes(inbox).includes(1));
  expect(bobSteps).toEqual(["answered"]);
  await bob.sendStatus(SimpleStatus.OnMyWayHome);

  // Alice gets Bob's old-key status, the confirm, and the new-key status (after the confirm, in one batch).
  const aliceSteps: string[] = [];
  alice.events.on("rekeyed", (event) => aliceSteps.push(event.step));
  await syncUntil(alice, (inbox) => statuses(inbox).includes(SimpleStatus.OnMyWayHome));
  expect(statuses(await alice.inbox())).toEqual(expect.arrayContaining([SimpleStatus.ImOk, SimpleStatus.OnMyWayHome]));
  expect(aliceSteps).toEqual(["completed"]);

  // Both switched: each holds the other's new public keys, and new secrets of its own.
  const aliceAfter = await side(alice, ids.a);
  const bobAfter = await side(bob, ids.b);
  expect(aliceAfter.encryptionSecretKey).not.toBe(aliceBefore.encryptionSecretKey);
  expect(aliceAfter.signingSecretKey).not.toBe(aliceBefore.signingSecretKey);
  expect(bobAfter.encryptionSecretKey).not.toBe(bobBefore.encryptionSecretKey);
  const publicOf = (c: typeof aliceAfter) =>
    connectionPublicKeys(
      importConnectionKeyPairs({
        signingSecretKey: Buffer.from(c.signingSecretKey, "base64"),
        encryptionSecretKey: Buffer.from(c.encryptionSecretKey, "base64"),
      }),
    );
  expect(Buffer.from(publicOf(aliceAfter).encryptionPublicKey).toString("base64")).toBe(
    bobAfter.peerEncryptionPublicKey,
  );
  expect(Buffer.from(publicOf(bobAfter).signingPublicKey).toString("base64")).toBe(aliceAfter.peerSigningPublicKey);
  expect(aliceAfter.pendingRotation).toBeUndefined();
  expect(aliceAfter.previousKeys?.encryptionSecretKey).toBe(aliceBefore.encryptionSecretKey);

  // New keys carry on both ways.
  await alice.sendLocation({ ...here, latitude: 2 });
  await syncUntil(bob, (inbox) => latitudes(inbox).includes(2));
  await bob.sendStatus(SimpleStatus.PleaseCallMe);
  await syncUntil(alice, (inbox) => statuses(inbox).includes(SimpleStatus.PleaseCallMe));
  expect(rejected).toEqual([]);
});

test("a replayed or a forged rotation offer is refused and changes no key", async () => {
  const before = await side(bob, ids.b);
  // Alice starts a second rotation; the relay keeps a copy of her offer.
  await alice.rotateKeys(ids.a);
  const [offer] = (
    await db.query<{ packet_id: string; blob: Buffer }>(
      "SELECT packet_id, blob FROM packet WHERE recipient_pair_id = $1",
      [ids.b],
    )
  ).rows;
  await syncUntil(bob, async () => (await side(bob, ids.b)).encryptionSecretKey !== before.encryptionSecretKey);
  await syncUntil(alice, async () => (await side(alice, ids.a)).pendingRotation === undefined);
  const rotated = await side(bob, ids.b);

  // Replayed: the very same packet delivered again.
  await db.query(
    "INSERT INTO packet (recipient_pair_id, packet_id, sender_pair_id, blob, stored_at, expires_at) VALUES ($1, $2, $3, $4, now(), now() + interval '1 day')",
    [ids.b, offer.packet_id, ids.a, offer.blob],
  );
  // Forged: an offer sealed to Bob's current key by someone without Alice's signing key.
  const bobKeys = importConnectionKeyPairs({
    signingSecretKey: Buffer.from(rotated.signingSecretKey, "base64"),
    encryptionSecretKey: Buffer.from(rotated.encryptionSecretKey, "base64"),
  });
  const forger = generateConnectionKeyPairs();
  const forged = await seal({
    senderKeys: forger,
    recipientPublicKeys: connectionPublicKeys(bobKeys),
    senderPairId: ids.a,
    recipientPairId: ids.b,
    packetId: 5000,
    plaintext: encodeInner(encodeRekey({ kind: "offer", keys: connectionPublicKeys(generateConnectionKeyPairs()) })),
  });
  await db.query(
    "INSERT INTO packet (recipient_pair_id, packet_id, sender_pair_id, blob, stored_at, expires_at) VALUES ($1, 5000, $2, $3, now(), now() + interval '1 day')",
    [ids.b, ids.a, Buffer.from(forged)],
  );
  rejected.length = 0;
  await bob.sync();
  expect(rejected).toEqual([
    { packetId: Number(offer.packet_id), connection: ids.b, reason: "replay" },
    { packetId: 5000, connection: ids.b, reason: "envelope-unauthentic" },
  ]);
  const after = await side(bob, ids.b);
  expect([after.encryptionSecretKey, after.signingSecretKey, after.peerSigningPublicKey]).toEqual([
    rotated.encryptionSecretKey,
    rotated.signingSecretKey,
    rotated.peerSigningPublicKey,
  ]);
});

test("once the grace window has passed, the old secret keys are gone from the device's storage", async () => {
  const current = await side(alice, ids.a);
  const old = current.previousKeys!;
  expect(old).toBeDefined();
  const file = () => readFile(join(home, "state.json"), "utf8");
  // Within the grace window the old secret is still kept (packets sealed to it may be in flight)...
  expect(await file()).toContain(old.encryptionSecretKey);
  await alice.prune();
  expect(await file()).toContain(old.encryptionSecretKey);
  // ...and erased once it has passed.
  clock = 8 * 86_400_000;
  await alice.prune();
  const stored = await file();
  expect(stored).not.toContain(old.encryptionSecretKey);
  expect(stored).not.toContain(old.signingSecretKey);
  expect(stored).not.toContain("previousKeys");
  expect(stored).toContain(current.encryptionSecretKey);
});
