import { create } from "@bufbuild/protobuf";
import { IncomingPacketSchema } from "@seeme/contracts/location";
import { encodeStatus } from "../src/codec-status.js";
import { ConnectionManagement, PrimaryType, SimpleStatus } from "../src/codes.js";
import { applyIncoming, openIncoming, receiveInto, SERVER_PAIR_ID } from "../src/receive.js";
import { connectionPair, deviceState, packetFrom } from "./device-fixtures.js";

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
