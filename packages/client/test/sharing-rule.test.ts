import { encodeLocation } from "../src/codec-location.js";
import { encodeStatus } from "../src/codec-status.js";
import { Movement, SimpleStatus } from "../src/codes.js";
import { receiveInto } from "../src/receive.js";
import { clientOn, connectionPair, deviceState, fakeGateway, packetFrom, queueInto } from "./device-fixtures.js";

/** SPEC §1 "If you can't see me, I can't see you", for packets already queued as well as new ones. */

const HERE = { movement: Movement.Walking, latitude: -33.8676, longitude: 151.2085, speedKmh: 4 };
const location = (sharing: boolean) => encodeLocation({ ...HERE, sharing });
const status = (code: SimpleStatus, sharing: boolean) =>
  encodeStatus({ status: code, sharing, sentAt: new Date("2025-04-19T09:41:05Z") });

test("turning my sharing off withdraws the locations still queued; status and text stay queued and go out", async () => {
  const { a } = connectionPair();
  const gateway = fakeGateway();
  const device = clientOn(gateway, deviceState([a]));
  await device.sendLocation(HERE, { sync: false });
  await device.sendText("on my way", { sync: false });
  await device.setSharing(false);
  const sent = gateway.syncs.flatMap((request) => request.data.map((packet) => packet.packetId));
  // #1 (the location) never leaves the device; #2 the text, #3 status 0.
  expect(sent).toEqual([2, 3]);
  expect((await device.storage.read()).outbox).toEqual([]);
});

test("queued packets record what they carry", async () => {
  const { a } = connectionPair();
  const state = deviceState([a]);
  await queueInto(state, state.connections[0], [location(true), status(SimpleStatus.Sos, true)]);
  expect(state.outbox.map((packet) => [packet.packetId, packet.kind])).toEqual([
    [1, "location"],
    [2, "status"],
  ]);
});

test("when a peer's flag turns off, the locations queued for that peer are withdrawn, not those for others", async () => {
  const bob = connectionPair();
  const carol = connectionPair({ a: "C", b: "A" });
  const state = deviceState([bob.a, carol.a]);
  const [toBob, toCarol] = state.connections;
  await queueInto(state, toBob, [location(true), status(SimpleStatus.Sos, true)]);
  await queueInto(state, toCarol, [location(true)]);

  const outcome = await receiveInto(
    state,
    await packetFrom(bob.b, bob.a, 1, status(SimpleStatus.LocationSharingOff, false)),
    new Date(),
  );
  expect(outcome.kind).toBe("message");
  expect(toBob.peerSharing).toBe(false);
  expect(state.outbox.map((packet) => [packet.pairId === toBob.peerPairId ? "bob" : "carol", packet.kind])).toEqual([
    ["bob", "status"],
    ["carol", "location"],
  ]);
});

test("a peer packet whose flag is off (not only status 0) withdraws that peer's queued locations", async () => {
  const bob = connectionPair();
  const state = deviceState([bob.a]);
  await queueInto(state, state.connections[0], [location(true)]);
  await receiveInto(state, await packetFrom(bob.b, bob.a, 1, status(SimpleStatus.ImOk, false)), new Date());
  expect(state.outbox).toEqual([]);
});

test("the peer's flag follows packetID order, not processing order", async () => {
  const bob = connectionPair();
  const state = deviceState([bob.a]);
  const connection = state.connections[0];
  // #8 (sharing off) is processed before #7 (a location sent while still on).
  await receiveInto(
    state,
    await packetFrom(bob.b, bob.a, 8, status(SimpleStatus.LocationSharingOff, false)),
    new Date(),
  );
  expect((await receiveInto(state, await packetFrom(bob.b, bob.a, 7, location(true)), new Date())).kind).toBe(
    "message",
  );
  expect(connection.peerSharing).toBe(false);
  expect(connection.peerSharingPacketId).toBe(8);
  // A newer packet turns it back on.
  await receiveInto(state, await packetFrom(bob.b, bob.a, 9, status(SimpleStatus.LocationSharingOn, true)), new Date());
  expect(connection.peerSharing).toBe(true);
  expect(connection.peerSharingPacketId).toBe(9);
});

describe("receiving while my sharing is off (I can't see you either)", () => {
  test("a peer's location is dropped and acknowledged, never stored; once I share again, their locations arrive", async () => {
    const bob = connectionPair();
    const state = deviceState([bob.a]);
    state.sharing = false;
    const hidden = await receiveInto(state, await packetFrom(bob.b, bob.a, 1, location(true)), new Date());
    expect(hidden).toEqual({ kind: "dropped", connection: bob.a.pairId, reason: "sharing-off" });
    expect(state.inbox).toEqual([]);
    // Acknowledged all the same, so the relay does not deliver it again later.
    expect(state.acks).toEqual({ [bob.a.pairId]: [1] });

    state.sharing = true;
    const shown = await receiveInto(state, await packetFrom(bob.b, bob.a, 2, location(true)), new Date());
    expect(shown).toMatchObject({
      kind: "message",
      message: { kind: "location", connection: bob.a.pairId, packetId: 2, latitude: HERE.latitude },
    });
    expect(state.inbox.map((message) => [message.kind, "packetId" in message ? message.packetId : 0])).toEqual([
      ["location", 2],
    ]);
  });

  test("an SOS still reaches me while I am hidden; a plain status does not (statusesWhileHidden defaults to urgent)", async () => {
    const bob = connectionPair();
    const state = deviceState([bob.a]);
    state.sharing = false;
    expect(
      await receiveInto(state, await packetFrom(bob.b, bob.a, 1, status(SimpleStatus.ImOk, true)), new Date()),
    ).toEqual({
      kind: "dropped",
      connection: bob.a.pairId,
      reason: "hidden",
    });
    const sos = await receiveInto(state, await packetFrom(bob.b, bob.a, 2, status(SimpleStatus.Sos, true)), new Date());
    expect(sos).toMatchObject({ kind: "message", message: { kind: "status", status: SimpleStatus.Sos, packetId: 2 } });
    expect(state.acks).toEqual({ [bob.a.pairId]: [1, 2] });
  });
});
