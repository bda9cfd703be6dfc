import { Code, ConnectError } from "@connectrpc/connect";
import { clientOn, connectionPair, deviceState, fakeGateway } from "./device-fixtures.js";

/** `breakConnection("Bob")` breaks the live Bob, never an old ended one with the same name. */

function withBreaks() {
  const gateway = fakeGateway();
  const broken: string[] = [];
  gateway.connection.breakConnection = (request) => {
    broken.push(request.pairId);
    return {};
  };
  return { gateway, broken };
}

test("a label shared with an ended connection resolves to the live one, which is broken on the server", async () => {
  const old = { ...connectionPair().a, label: "Bob", status: "broken" as const };
  const live = { ...connectionPair().a, label: "Bob" };
  const { gateway, broken } = withBreaks();
  const device = clientOn(gateway, deviceState([old, live]));
  expect((await device.connection("Bob")).connection).toBe(live.pairId);
  expect(await device.breakConnection("Bob")).toEqual({ connection: live.pairId, label: "Bob" });
  expect(broken).toEqual([live.pairId]);
  expect((await device.connections()).map((c) => c.status)).toEqual(["broken", "broken"]);
});

test("several live connections matching is an error naming each of them; nothing is broken", async () => {
  const first = { ...connectionPair().a, label: "Bob" };
  const second = { ...connectionPair().a, label: "Bob", status: "invited" as const };
  const { gateway, broken } = withBreaks();
  const device = clientOn(gateway, deviceState([first, second]));
  const error = await device.breakConnection("Bob").then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  expect(error?.code).toBe(Code.InvalidArgument);
  expect(error?.rawMessage).toContain('2 connections match "Bob"');
  expect(error?.rawMessage).toContain(`${first.pairId.slice(0, 8)}… "Bob" (active)`);
  expect(error?.rawMessage).toContain(`${second.pairId.slice(0, 8)}… "Bob" (invited)`);
  expect(broken).toEqual([]);
  expect((await device.connections()).map((c) => c.status)).toEqual(["active", "invited"]);
});

test("breaking a connection that already ended says so and calls nobody", async () => {
  const ended = { ...connectionPair().a, label: "Bob", status: "expired" as const };
  const { gateway, broken } = withBreaks();
  const device = clientOn(gateway, deviceState([ended]));
  expect(await device.breakConnection("Bob")).toEqual({
    connection: ended.pairId,
    label: "Bob",
    alreadyEnded: "expired",
  });
  expect(broken).toEqual([]);
});
