import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ConnectionSchema } from "@seeme/contracts/connection";
import { encodeStatus } from "../src/codec-status.js";
import { SimpleStatus } from "../src/codes.js";
import { encodeInviteQr } from "../src/qr.js";
import { receiveInto } from "../src/receive.js";
import { clientOn, connectionPair, deviceState, fakeGateway, packetFrom } from "./device-fixtures.js";
import { filled } from "./helpers.js";

/** B's side after a ConfirmConnection whose answer was lost: never stuck "answered". */

function answered() {
  const pair = connectionPair();
  const b = { ...pair.b, status: "answered" as const };
  const invite = encodeInviteQr({
    senderPairId: pair.a.pairId,
    recipientPairId: b.pairId,
    serverSignature: filled(9, 64),
  });
  return { a: pair.a, b, invite };
}

const listed = (pairId: string, peerPairId: string) => ({
  connections: [create(ConnectionSchema, { pairId, peerPairId })],
});

test("scanning the invite again after a lost answer hears 'already used', finds the connection listed and completes", async () => {
  const { b, invite } = answered();
  const gateway = fakeGateway();
  gateway.connection.confirmConnection = () => {
    throw new ConnectError("this invite was already used", Code.FailedPrecondition);
  };
  gateway.connection.listConnections = () => listed(b.pairId, b.peerPairId!);
  const device = clientOn(gateway, deviceState([b]));
  expect(await device.confirm(invite)).toMatchObject({ connection: b.pairId, status: "active" });
  expect(gateway.calls.map((c) => c.method)).toEqual(["connection.confirmConnection", "connection.listConnections"]);
});

test("a failed confirm the server does not list is reported as it was, and the connection stays answered", async () => {
  const { b, invite } = answered();
  const gateway = fakeGateway();
  gateway.connection.confirmConnection = () => {
    throw new ConnectError("gateway down", Code.Unavailable);
  };
  gateway.connection.listConnections = () => ({ connections: [] });
  const device = clientOn(gateway, deviceState([b]));
  await expect(device.confirm(invite)).rejects.toMatchObject({ code: Code.Unavailable });
  expect((await device.connections())[0].status).toBe("answered");
});

test("an answered connection the server lists becomes active when connections are reconciled", async () => {
  const { b } = answered();
  const other = connectionPair().a;
  const gateway = fakeGateway();
  let refused = false;
  gateway.sync = () => {
    if (refused) return;
    refused = true;
    throw new ConnectError("not yours", Code.PermissionDenied);
  };
  gateway.connection.listConnections = () => ({
    connections: [
      ...listed(b.pairId, b.peerPairId!).connections,
      ...listed(other.pairId, other.peerPairId!).connections,
    ],
  });
  const device = clientOn(gateway, deviceState([b, other]));
  await device.sendText("hello", { to: other.label });
  expect((await device.connections()).map((c) => c.status)).toEqual(["active", "active"]);
});

test("the peer's first authentic packet makes an answered connection active", async () => {
  const { a, b } = answered();
  const state = deviceState([b]);
  const outcome = await receiveInto(
    state,
    await packetFrom(a, b, 1, encodeStatus({ status: SimpleStatus.ImOk, sharing: true, sentAt: new Date() })),
    new Date(),
  );
  expect(outcome.kind).toBe("message");
  expect(state.connections[0].status).toBe("active");
});

test("breaking an answered connection asks the server too; NotFound there means it is done", async () => {
  const { b } = answered();
  const gateway = fakeGateway();
  const asked: string[] = [];
  gateway.connection.breakConnection = (request) => {
    asked.push(request.pairId);
    throw new ConnectError("no connection of yours with this pair_id", Code.NotFound);
  };
  const device = clientOn(gateway, deviceState([b]));
  expect(await device.breakConnection(b.pairId)).toEqual({ connection: b.pairId, label: b.label });
  expect(asked).toEqual([b.pairId]);
  expect((await device.connections())[0].status).toBe("broken");
});
