import { Code, ConnectError } from "@connectrpc/connect";
import { commands } from "../src/commands.js";
import { clientOn, connectionPair, deviceState, fakeGateway } from "../../client/test/device-fixtures.js";
import type { SeeMeClient } from "@seeme/client";

/** CLI commands against an in-memory gateway: what a person reads must be true and safe to print. */

async function run(
  device: SeeMeClient,
  name: string,
  args: string[] = [],
  flags: Record<string, string> = {},
): Promise<string[]> {
  const lines: string[] = [];
  await commands[name].run({
    device,
    args,
    flags: new Map(Object.entries(flags)),
    print: (line) => lines.push(line),
    gateway: "http://127.0.0.1:9",
    home: "/nonexistent",
  });
  return lines;
}

test("break names the connection it broke, and does not claim to break one that had already ended", async () => {
  const old = { ...connectionPair().a, label: "Bob", status: "broken" as const };
  const live = { ...connectionPair().a, label: "Bob" };
  const gateway = fakeGateway();
  const broken: string[] = [];
  gateway.connection.breakConnection = (request) => (broken.push(request.pairId), {});
  const device = clientOn(gateway, deviceState([old, live]));
  expect(await run(device, "break", ["Bob"])).toEqual([`connection Bob (${live.pairId.slice(0, 8)}…) broken`]);
  expect(broken).toEqual([live.pairId]);
  await expect(run(device, "break", [live.pairId])).resolves.toEqual([
    `connection Bob (${live.pairId.slice(0, 8)}…) was already broken; nothing to do`,
  ]);
  expect(broken).toEqual([live.pairId]);
});

test("send names the connections it could not send to, after the ones it did", async () => {
  const good = connectionPair({ a: "Mum", b: "Kid" }).a;
  const bad = {
    ...connectionPair({ a: "Dad", b: "Kid" }).a,
    peerEncryptionPublicKey: Buffer.alloc(32).toString("base64"),
  };
  const device = clientOn(fakeGateway(), deviceState([bad, good]));
  const lines = await run(device, "send", ["status", "sos"]);
  expect(lines[0]).toBe(`sent to Mum (${good.pairId.slice(0, 8)}…): packet 1`);
  expect(lines[1]).toMatch(new RegExp(`^NOT sent to Dad \\(${bad.pairId.slice(0, 8)}…\\): .+`));
});

test("send says the packets are queued for the next sync when the sync fails", async () => {
  const { a } = connectionPair({ a: "Mum", b: "Kid" });
  const gateway = fakeGateway();
  gateway.sync = () => {
    throw new ConnectError("relay unreachable", Code.Internal);
  };
  const lines = await run(clientOn(gateway, deviceState([a])), "send", ["status", "sos"]);
  expect(lines).toEqual([
    `queued for Mum (${a.pairId.slice(0, 8)}…): packet 1`,
    "queued (will be sent on next sync): relay unreachable",
  ]);
});
