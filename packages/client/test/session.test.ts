import { Code, ConnectError } from "@connectrpc/connect";
import { SimpleStatus } from "../src/codes.js";
import { acceptSignIns, clientOn, connectionPair, deviceState, fakeGateway } from "./device-fixtures.js";

/** Sessions: never used past their expiry, renewed when the server refuses them; sends survive a failed Sync. */

test("a held session is not used past its expiry: the next call signs in first", async () => {
  let now = new Date();
  const gateway = fakeGateway();
  acceptSignIns(gateway);
  const device = clientOn(
    gateway,
    deviceState([], { token: "session-1", expiresAt: new Date(now.getTime() + 120_000).toISOString() }),
    () => now,
  );
  await device.sync();
  now = new Date(now.getTime() + 90_000);
  await device.sync();
  expect(gateway.calls.map((c) => `${c.method} ${c.authorization}`)).toEqual([
    "location.sync Bearer session-1",
    "identity.signIn null",
    "location.sync Bearer session-2",
  ]);
});

test("a break refused as Unauthenticated signs in again and is retried once", async () => {
  const { a } = connectionPair();
  const gateway = fakeGateway();
  acceptSignIns(gateway);
  gateway.connection.breakConnection = (_request, ctx) => {
    if (ctx.requestHeader.get("Authorization") === "Bearer session-1")
      throw new ConnectError("session revoked", Code.Unauthenticated);
    return {};
  };
  const device = clientOn(gateway, deviceState([a]));
  await device.breakConnection(a.label);
  expect(gateway.calls.map((c) => `${c.method} ${c.authorization}`)).toEqual([
    "connection.breakConnection Bearer session-1",
    "identity.signIn null",
    "connection.breakConnection Bearer session-2",
  ]);
  expect((await device.connections())[0].status).toBe("broken");
});

test("a send whose Sync fails returns the report with the error: the packets stay queued for the next Sync", async () => {
  const { a } = connectionPair();
  const gateway = fakeGateway();
  let down = true;
  gateway.sync = () => {
    if (down) throw new ConnectError("relay refused", Code.Internal);
  };
  const device = clientOn(gateway, deviceState([a]));
  const report = await device.sendStatus(SimpleStatus.Sos);
  expect(report).toEqual({
    sent: [{ connection: a.pairId, label: a.label, packetIds: [1] }],
    withheld: [],
    failed: [],
    outcome: "queued",
    syncError: { code: Code.Internal, message: "relay refused" },
  });
  expect((await device.storage.read()).outbox.map((p) => p.packetId)).toEqual([1]);
  down = false;
  expect((await device.sync()).sent).toBe(1);
});
