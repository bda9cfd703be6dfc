import { SimpleStatus } from "../src/codes.js";
import { toBase64 } from "../src/connection-state.js";
import { clientOn, connectionPair, deviceState, fakeGateway } from "./device-fixtures.js";

/** Sending to many connections: one unusable connection never blocks the others. */

function withBadKey() {
  const good = connectionPair({ a: "Mum", b: "Kid" }).a;
  // Stored before cards were checked for low-order keys: sealing to it throws.
  const bad = {
    ...connectionPair({ a: "Broken card", b: "Kid" }).a,
    peerEncryptionPublicKey: toBase64(new Uint8Array(32)),
  };
  return { good, bad };
}

test("an SOS to everyone still goes to the others when one connection's key is unusable, and the failure is reported", async () => {
  const { good, bad } = withBadKey();
  const gateway = fakeGateway();
  const device = clientOn(gateway, deviceState([bad, good]));
  const report = await device.sendStatus(SimpleStatus.Sos);
  expect(report.sent).toEqual([{ connection: good.pairId, label: "Mum", packetIds: [1] }]);
  expect(report.failed).toEqual([
    { connection: bad.pairId, label: "Broken card", code: expect.any(Number), message: expect.any(String) },
  ]);
  expect(gateway.syncs.flatMap((request) => request.data.map((packet) => [packet.pairId, packet.packetId]))).toEqual([
    [good.peerPairId, 1],
  ]);
  const state = await device.storage.read();
  // Nothing half-done for the failed one: no packetID used, nothing queued.
  expect(state.connections.find((c) => c.pairId === bad.pairId)?.lastPacketId).toBe(0);
  expect(state.outbox).toEqual([]);
});

test("a send to the unusable connection by name fails and queues nothing", async () => {
  const { good, bad } = withBadKey();
  const device = clientOn(fakeGateway(), deviceState([bad, good]));
  await expect(device.sendStatus(SimpleStatus.Sos, { to: "Broken card", sync: false })).rejects.toThrow();
  const state = await device.storage.read();
  expect(state.outbox).toEqual([]);
  expect(state.connections.map((c) => c.lastPacketId)).toEqual([0, 0]);
});
