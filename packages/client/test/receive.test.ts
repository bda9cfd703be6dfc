import { create } from "@bufbuild/protobuf";
import { IncomingPacketSchema } from "@seeme/contracts/location";
import { encodeLocation } from "../src/codec-location.js";
import { encodeTextPart, splitText } from "../src/codec-text.js";
import { encodeStatus } from "../src/codec-status.js";
import { ConnectionManagement, Movement, PrimaryType, SimpleStatus, TextMessageKind } from "../src/codes.js";
import { fromBase64, toBase64 } from "../src/connection-state.js";
import { encodeRekey, newKeySet } from "../src/key-rotation.js";
import { importConnectionKeyPairs, type ConnectionKeyPairs } from "../src/keys.js";
import { commitPackets, sealPayloads } from "../src/outgoing.js";
import { applyIncoming, FUTURE_TOLERANCE_MS, openIncoming, receiveInto, SERVER_PAIR_ID } from "../src/receive.js";
import { pruneState } from "../src/retention.js";
import type { DeviceState } from "../src/storage.js";
import { connectionPair, deviceState, packetFrom, queueInto } from "./device-fixtures.js";

/** receive.ts on its own (the relay-level cases are in test/e2e): what each packet does to the device state. */

const ok = () => encodeStatus({ status: SimpleStatus.ImOk, sharing: true, sentAt: new Date("2025-04-19T09:41:05Z") });

/** The packet with one bit of its last byte flipped: it no longer authenticates. */
function tampered(packet: Awaited<ReturnType<typeof packetFrom>>) {
  const blob = Uint8Array.from(packet.blob);
  blob[blob.length - 1] ^= 1;
  return create(IncomingPacketSchema, { pairId: packet.pairId, packetId: packet.packetId, blob });
}

test("a second delivery of a packet is refused as a replay, acknowledged, and stored once", async () => {
  const bob = connectionPair();
  const state = deviceState([bob.a]);
  const packet = await packetFrom(bob.b, bob.a, 1, ok());
  expect((await receiveInto(state, packet, new Date())).kind).toBe("message");
  expect(await receiveInto(state, packet, new Date())).toEqual({
    kind: "rejected",
    connection: bob.a.pairId,
    reason: "replay",
  });
  expect(state.inbox).toHaveLength(1);
  expect(state.acks[bob.a.pairId]).toEqual([1]);
});

test("a packet under a pairID this device does not hold is refused as unknown-connection, and acknowledged", async () => {
  const bob = connectionPair();
  const carol = connectionPair({ a: "C", b: "A" });
  const state = deviceState([bob.a]);
  expect(await receiveInto(state, await packetFrom(carol.b, carol.a, 4, ok()), new Date())).toEqual({
    kind: "rejected",
    reason: "unknown-connection",
  });
  expect(state.acks[carol.a.pairId]).toEqual([4]);
  expect(state.inbox).toEqual([]);
});

test("a packet under a broken or expired connection is refused and not acknowledged", async () => {
  for (const status of ["broken", "expired"] as const) {
    const bob = connectionPair();
    const state = deviceState([{ ...bob.a, status }]);
    expect(await receiveInto(state, await packetFrom(bob.b, bob.a, 1, ok()), new Date())).toEqual({
      kind: "rejected",
      connection: bob.a.pairId,
      reason: "unknown-connection",
    });
    expect(state.acks).toEqual({});
    expect(state.inbox).toEqual([]);
  }
});

test("with several connections, a packet is opened with and stored under its own connection", async () => {
  const bob = connectionPair();
  const carol = connectionPair({ a: "C", b: "A" });
  const state = deviceState([bob.a, carol.a]);
  const outcome = await receiveInto(state, await packetFrom(carol.b, carol.a, 1, ok()), new Date());
  expect(outcome).toMatchObject({ kind: "message", message: { connection: carol.a.pairId, packetId: 1 } });
  expect(state.connections[1].replay).not.toEqual(state.connections[0].replay);
  expect(state.acks).toEqual({ [carol.a.pairId]: [1] });
});

test("an authentic packet from the peer makes an invited or answered connection active", async () => {
  for (const status of ["invited", "answered"] as const) {
    const bob = connectionPair();
    const state = deviceState([{ ...bob.a, status }]);
    expect((await receiveInto(state, await packetFrom(bob.b, bob.a, 1, ok()), new Date())).kind).toBe("message");
    expect(state.connections[0].status).toBe("active");
  }
});

test("a server notice is stored once and acknowledged; 5/3 (confirmed) makes the invited connection active", async () => {
  const bob = connectionPair();
  const state = deviceState([{ ...bob.a, status: "invited" }]);
  const notice = create(IncomingPacketSchema, {
    pairId: SERVER_PAIR_ID,
    packetId: 7,
    type: PrimaryType.ConnectionManagement,
    subType: ConnectionManagement.Confirmed,
    text: bob.a.peerPairId,
  });
  expect(await receiveInto(state, notice, new Date())).toMatchObject({
    kind: "message",
    message: { kind: "server", packetId: 7, type: PrimaryType.ConnectionManagement },
  });
  expect(state.connections[0].status).toBe("active");
  expect(await receiveInto(state, notice, new Date())).toEqual({ kind: "skipped" });
  expect(state.inbox).toHaveLength(1);
  expect(state.acks[SERVER_PAIR_ID]).toEqual([7]);
});

test("a tampered packet is refused as unauthentic and acknowledged (so the relay drops it)", async () => {
  const bob = connectionPair();
  const state = deviceState([bob.a]);
  const bad = tampered(await packetFrom(bob.b, bob.a, 1, ok()));
  expect(await receiveInto(state, bad, new Date())).toEqual({
    kind: "rejected",
    connection: bob.a.pairId,
    reason: "envelope-unauthentic",
  });
  expect(state.acks[bob.a.pairId]).toEqual([1]);
});

test("a blob of another envelope version is refused as such and acknowledged, not deferred", async () => {
  const bob = connectionPair();
  const state = deviceState([bob.a]);
  const packet = await packetFrom(bob.b, bob.a, 1, ok());
  const blob = Uint8Array.from(packet.blob);
  blob[0] = 1;
  const old = create(IncomingPacketSchema, { pairId: packet.pairId, packetId: 1, blob });
  expect(await receiveInto(state, old, new Date())).toEqual({
    kind: "rejected",
    connection: bob.a.pairId,
    reason: "envelope-version",
  });
  expect(state.acks[bob.a.pairId]).toEqual([1]);
});

test("a packet that failed to open while keys change is deferred, not acknowledged", async () => {
  // The connection's keys changed between opening and applying (a rotation applied meanwhile).
  const bob = connectionPair();
  const other = connectionPair({ a: "C", b: "A" });
  const state = deviceState([bob.a]);
  const bad = tampered(await packetFrom(bob.b, bob.a, 1, ok()));
  const opened = await openIncoming(state, bad);
  expect(opened.kind).toBe("failed");
  state.connections[0].encryptionSecretKey = other.a.encryptionSecretKey;
  expect(applyIncoming(state, bad, new Date(), opened)).toEqual({ kind: "deferred", connection: bob.a.pairId });
  expect(state.acks).toEqual({});
  // A rotation of mine waiting for its confirm: the packet may be under keys not learnt yet.
  const waiting = deviceState([
    {
      ...bob.a,
      pendingRotation: {
        signingSecretKey: other.a.signingSecretKey,
        encryptionSecretKey: other.a.encryptionSecretKey,
        startedAt: new Date().toISOString(),
      },
    },
  ]);
  expect(await receiveInto(waiting, bad, new Date())).toEqual({ kind: "deferred", connection: bob.a.pairId });
  expect(waiting.acks).toEqual({});
});

const DAY_MS = 86_400_000;
const NOW = new Date("2026-06-01T12:00:00Z");
const HERE = { movement: Movement.Walking, latitude: -33.8676, longitude: 151.2085, speedKmh: 4 };
const status = (code: SimpleStatus, sharing = true) => encodeStatus({ status: code, sharing, sentAt: NOW });

test("a packet from a peer whose sharing is on leaves the locations queued for them in the outbox", async () => {
  const bob = connectionPair();
  const state = deviceState([bob.a]);
  await queueInto(state, state.connections[0], [encodeLocation({ ...HERE, sharing: true })]);
  expect((await receiveInto(state, await packetFrom(bob.b, bob.a, 1, ok()), NOW)).kind).toBe("message");
  expect(state.connections[0].peerSharing).toBe(true);
  expect(state.outbox.map((packet) => packet.kind)).toEqual(["location"]);
});

test("status 0 turns the peer's flag off and status 1 on, whatever the flag field beside them says", async () => {
  // see-me sends them with the matching flag; another client may not, and the status is the explicit word.
  const bob = connectionPair();
  const state = deviceState([bob.a]);
  const queueLocation = () => queueInto(state, state.connections[0], [encodeLocation({ ...HERE, sharing: true })]);
  await queueLocation();
  await receiveInto(state, await packetFrom(bob.b, bob.a, 1, status(SimpleStatus.LocationSharingOff, true)), NOW);
  expect(state.connections[0].peerSharing).toBe(false);
  expect(state.outbox).toEqual([]);
  await receiveInto(state, await packetFrom(bob.b, bob.a, 2, status(SimpleStatus.LocationSharingOn, false)), NOW);
  expect(state.connections[0].peerSharing).toBe(true);
  await queueLocation();
  await receiveInto(state, await packetFrom(bob.b, bob.a, 3, ok()), NOW);
  expect(state.outbox.map((packet) => packet.kind)).toEqual(["location"]);
});

test("the peer's first packet sets its flag even when its packetID is 0 (a valid id, though see-me starts at 1)", async () => {
  const bob = connectionPair();
  const state = deviceState([bob.a]);
  await queueInto(state, state.connections[0], [encodeLocation({ ...HERE, sharing: true })]);
  await receiveInto(state, await packetFrom(bob.b, bob.a, 0, status(SimpleStatus.LocationSharingOff, false)), NOW);
  expect(state.connections[0].peerSharing).toBe(false);
  // Their sharing is off: my queued location does not go to them.
  expect(state.outbox).toEqual([]);
});

test("while my location is hidden, the notification notices (statuses 2 and 3) reach me even under `none`", async () => {
  const bob = connectionPair();
  const state = deviceState([{ ...bob.a, statusesWhileHidden: "none" }]);
  state.sharing = false;
  const codes = [SimpleStatus.NotificationsOff, SimpleStatus.NotificationsOn, SimpleStatus.ImLost];
  const outcomes = [];
  for (const [i, code] of codes.entries())
    outcomes.push(await receiveInto(state, await packetFrom(bob.b, bob.a, i + 1, status(code)), NOW));
  expect(outcomes.map((o) => o.kind)).toEqual(["message", "message", "dropped"]);
  expect(state.inbox.map((m) => (m.kind === "status" ? m.status : undefined))).toEqual([
    SimpleStatus.NotificationsOff,
    SimpleStatus.NotificationsOn,
  ]);
});

test("a send time exactly 5 minutes ahead of my clock is not flagged; a millisecond more is", async () => {
  const bob = connectionPair();
  const state = deviceState([bob.a]);
  const sentAt = Math.floor(NOW.getTime() / 1000);
  const at = new Date(sentAt * 1000 - FUTURE_TOLERANCE_MS);
  const first = await receiveInto(state, await packetFrom(bob.b, bob.a, 1, ok(), { sentAt }), at);
  const second = await receiveInto(
    state,
    await packetFrom(bob.b, bob.a, 2, ok(), { sentAt }),
    new Date(at.getTime() - 1),
  );
  expect(state.inbox.map((m) => m.kind === "status" && m.sentInFuture)).toEqual([undefined, true]);
  expect([first.kind, second.kind]).toEqual(["message", "message"]);
});

/** Seals `payloads` from one side of a connection and commits them, as a send would; returns them as the relay delivers them. */
async function send(state: DeviceState, payloads: string[], at: Date, signWith?: ConnectionKeyPairs) {
  const connection = state.connections[0];
  const packets = await sealPayloads(connection, payloads, 4096, at, {}, signWith);
  if (!commitPackets(state, connection.pairId, connection.lastPacketId, packets)) throw new Error("not committed");
  return packets.map((p) =>
    create(IncomingPacketSchema, { pairId: p.pairId, packetId: p.packetId, blob: fromBase64(p.blob) }),
  );
}

/** A (the initiator, no rotation of its own waiting) and B, who has just offered new keys: the offer is not delivered yet. */
async function offerFromB() {
  const bob = connectionPair();
  const a = deviceState([bob.a]);
  const b = deviceState([bob.b]);
  const fresh = newKeySet();
  const [offer] = await send(b, [encodeRekey({ kind: "offer", keys: fresh.publicKeys })], NOW);
  b.connections[0].pendingRotation = { ...fresh.secrets, startedAt: NOW.toISOString() };
  return { bob, a, b, fresh, offer };
}

test("an offer reaching the initiator with no rotation of its own is answered; after the confirm both sides' packets open under the new keys", async () => {
  const { bob, a, b, fresh, offer } = await offerFromB();
  expect(await receiveInto(a, offer, NOW)).toEqual({ kind: "rekeyed", connection: bob.a.pairId, step: "answered" });
  const mine = a.connections[0];
  // A switched: B's offered keys are now the peer's, A's own are new, the old ones kept for the grace window.
  expect(mine.peerSigningPublicKey).toBe(toBase64(fresh.publicKeys.signingPublicKey));
  expect(mine.signingSecretKey).not.toBe(bob.a.signingSecretKey);
  expect(mine.previousKeys).toMatchObject({ signingSecretKey: bob.a.signingSecretKey });
  expect(mine.owedRekeyConfirm).toMatch(/^57[0-9a-f]{256}$/);

  // The confirm goes out signed with A's old signing key (the only one B knows), as the sync engine sends it.
  const old = importConnectionKeyPairs({
    signingSecretKey: fromBase64(mine.previousKeys!.signingSecretKey),
    encryptionSecretKey: fromBase64(mine.previousKeys!.encryptionSecretKey),
  });
  const [confirm] = await send(a, [mine.owedRekeyConfirm!], NOW, old);
  expect(await receiveInto(b, confirm, NOW)).toEqual({ kind: "rekeyed", connection: bob.b.pairId, step: "completed" });

  const [fromB] = await send(b, [ok()], NOW);
  expect(await receiveInto(a, fromB, NOW)).toMatchObject({ kind: "message", message: { kind: "status" } });
  const [fromA] = await send(a, [ok()], NOW);
  expect(await receiveInto(b, fromA, NOW)).toMatchObject({ kind: "message", message: { kind: "status" } });
});

test("after answering an offer, packets sealed under the old keys still open for the grace window (7 days), not after pruning past it", async () => {
  const { bob, a, b, offer } = await offerFromB();
  // B keeps sending under the old keys until A's confirm reaches it.
  const [early, late] = await send(b, [ok(), ok()], NOW);
  expect((await receiveInto(a, offer, NOW)).kind).toBe("rekeyed");

  const sixDaysOn = new Date(NOW.getTime() + 6 * DAY_MS);
  pruneState(a, sixDaysOn);
  expect(await receiveInto(a, early, sixDaysOn)).toMatchObject({
    kind: "message",
    message: { packetId: early.packetId },
  });

  const sevenDaysOn = new Date(NOW.getTime() + 7 * DAY_MS);
  pruneState(a, sevenDaysOn);
  expect(a.connections[0].previousKeys).toBeUndefined();
  expect(await receiveInto(a, late, sevenDaysOn)).toEqual({
    kind: "rejected",
    connection: bob.a.pairId,
    reason: "envelope-unauthentic",
  });
});

describe("texts in several parts, and edits", () => {
  const NEW = { kind: TextMessageKind.New, sharing: true, parentPacketId: 0, parentIsSender: false };
  const receive = async (
    state: DeviceState,
    from: ReturnType<typeof connectionPair>,
    packetId: number,
    payload: string,
  ) => receiveInto(state, await packetFrom(from.b, from.a, packetId, payload), NOW);

  test("a text is kept only once all its parts arrived, in any order; texts in flight at once, on one connection or on two under the same packetIDs, do not mix", async () => {
    const bob = connectionPair();
    const carol = connectionPair({ a: "C", b: "A" });
    const state = deviceState([bob.a, carol.a]);
    const fromBob = "b".repeat(250); // 3 parts, packetIDs 10–12
    const fromCarol = "c".repeat(150); // 2 parts, packetIDs 10–11
    const bobParts = splitText(fromBob, NEW);
    const carolParts = splitText(fromCarol, NEW);
    expect([bobParts.length, carolParts.length]).toEqual([3, 2]);

    expect(await receive(state, bob, 12, bobParts[2])).toEqual({ kind: "text-part", connection: bob.a.pairId });
    expect(await receive(state, carol, 10, carolParts[0])).toEqual({ kind: "text-part", connection: carol.a.pairId });
    expect(await receive(state, bob, 10, bobParts[0])).toEqual({ kind: "text-part", connection: bob.a.pairId });
    const bobAgain = "d".repeat(150); // Bob's second text, 2 parts, packetIDs 20–21
    const bobAgainParts = splitText(bobAgain, NEW);
    expect(await receive(state, bob, 20, bobAgainParts[0])).toEqual({ kind: "text-part", connection: bob.a.pairId });
    expect(await receive(state, carol, 11, carolParts[1])).toMatchObject({
      kind: "message",
      message: { kind: "text", connection: carol.a.pairId, packetId: 10, message: fromCarol },
    });
    expect(state.partialTexts).toHaveLength(2);
    expect(await receive(state, bob, 21, bobAgainParts[1])).toMatchObject({
      kind: "message",
      message: { kind: "text", connection: bob.a.pairId, packetId: 20, message: bobAgain },
    });
    expect(state.partialTexts).toHaveLength(1);
    expect(await receive(state, bob, 11, bobParts[1])).toMatchObject({
      kind: "message",
      message: { kind: "text", connection: bob.a.pairId, packetId: 10, message: fromBob },
    });
    expect(state.partialTexts).toEqual([]);
    expect(state.inbox.map((m) => m.kind === "text" && m.message)).toEqual([fromCarol, bobAgain, fromBob]);
  });

  test("parts that do not belong together are refused as an invalid payload, and the device goes on", async () => {
    const bob = connectionPair();
    const state = deviceState([bob.a]);
    const [first] = splitText("x".repeat(150), NEW);
    const [, otherKind] = splitText("y".repeat(150), { ...NEW, kind: TextMessageKind.Reply, parentPacketId: 3 });
    expect(await receive(state, bob, 30, first)).toEqual({ kind: "text-part", connection: bob.a.pairId });
    expect(await receive(state, bob, 31, otherKind)).toEqual({
      kind: "rejected",
      connection: bob.a.pairId,
      reason: "invalid-payload",
    });
    expect(state.partialTexts).toEqual([]);
    expect(state.inbox).toEqual([]);
  });

  test("an edit changes only its sender's text with that packetID: not another connection's, not a location; packetID 0 is refused", async () => {
    const bob = connectionPair();
    const carol = connectionPair({ a: "C", b: "A" });
    const state = deviceState([bob.a, carol.a]);
    const edit = (parentPacketId: number, body: string) =>
      encodeTextPart({
        kind: TextMessageKind.Update,
        sharing: true,
        parentPacketId,
        parentIsSender: true,
        part: 1,
        of: 1,
        body,
      });
    await receive(state, bob, 5, splitText("bob's", NEW)[0]);
    await receive(state, carol, 5, splitText("carol's", NEW)[0]);
    const location = encodeLocation({ ...HERE, sharing: true });
    expect((await receive(state, bob, 6, location)).kind).toBe("message");

    expect(await receive(state, carol, 7, edit(5, "carol's, edited"))).toMatchObject({
      kind: "edited",
      connection: carol.a.pairId,
      packetId: 5,
      found: true,
    });
    expect(state.inbox.flatMap((m) => (m.kind === "text" ? [[m.connection, m.message]] : []))).toEqual([
      [bob.a.pairId, "bob's"],
      [carol.a.pairId, "carol's, edited"],
    ]);
    expect(await receive(state, bob, 8, edit(6, "not a text"))).toMatchObject({ kind: "edited", found: false });
    expect(state.inbox.find((m) => m.kind === "location")).toMatchObject({ latitude: HERE.latitude });
    expect(await receive(state, bob, 9, edit(0, "no parent"))).toEqual({
      kind: "rejected",
      connection: bob.a.pairId,
      reason: "invalid-payload",
    });
  });
});

describe("server notices", () => {
  const notice = (packetId: number, fields: { type?: number; subType?: number; text?: string } = {}) =>
    create(IncomingPacketSchema, {
      pairId: SERVER_PAIR_ID,
      packetId,
      type: PrimaryType.ConnectionManagement,
      subType: ConnectionManagement.Confirmed,
      ...fields,
    });

  test("a notice is acknowledged when it first arrives and again on a second delivery after the first ack went out", async () => {
    const state = deviceState([]);
    await receiveInto(state, notice(7, { type: PrimaryType.ServerMessage, subType: 1 }), NOW);
    expect(state.acks[SERVER_PAIR_ID]).toEqual([7]);
    delete state.acks[SERVER_PAIR_ID]; // as a Sync that carried the ack does
    expect(await receiveInto(state, notice(7, { type: PrimaryType.ServerMessage, subType: 1 }), NOW)).toEqual({
      kind: "skipped",
    });
    expect(state.acks[SERVER_PAIR_ID]).toEqual([7]);
    expect(state.inbox).toHaveLength(1);
  });

  test("the device remembers the last 200 notice ids, not more", async () => {
    const state = deviceState([]);
    for (let id = 1; id <= 201; id++) await receiveInto(state, notice(id, { type: PrimaryType.ServerMessage }), NOW);
    expect(state.seenServerMessages).toHaveLength(200);
    expect(state.seenServerMessages[0]).toBe(2);
  });

  test("connection notices change only the connection they name, and only from the status they apply to", async () => {
    const bob = connectionPair();
    const carol = connectionPair({ a: "C", b: "A" });
    const dan = connectionPair({ a: "D", b: "A" });
    const state = deviceState([
      { ...bob.a, status: "invited" },
      { ...carol.a, status: "invited" },
      { ...dan.a, status: "broken" },
    ]);
    const [bobSide, carolSide, danSide] = state.connections;
    // Not a connection-management notice, though its text names Bob's pairID and its subtype is 3.
    await receiveInto(state, notice(1, { type: PrimaryType.ServerMessage, text: bob.a.peerPairId }), NOW);
    expect(bobSide.status).toBe("invited");
    // Confirmed names Carol's connection: Carol's becomes active, Bob's stays invited.
    await receiveInto(state, notice(2, { text: carol.a.peerPairId }), NOW);
    expect([bobSide.status, carolSide.status]).toEqual(["invited", "active"]);
    // Confirmed does not revive a broken connection; Expired does not end an active one.
    await receiveInto(state, notice(3, { text: dan.a.peerPairId }), NOW);
    await receiveInto(state, notice(4, { subType: ConnectionManagement.Expired, text: carol.a.peerPairId }), NOW);
    expect([carolSide.status, danSide.status]).toEqual(["active", "broken"]);
    // Expired ends an invited one.
    await receiveInto(state, notice(5, { subType: ConnectionManagement.Expired, text: bob.a.peerPairId }), NOW);
    expect(bobSide.status).toBe("expired");
  });
});
