import { Writable } from "node:stream";
import { Code } from "@connectrpc/connect";
import { pino } from "pino";
import { bindTo, recipientProof } from "@seeme/testkit/pairing";
import { waitFor } from "@seeme/testkit/health";
import { clientAs, newPairId, registerAccount, startSuite } from "./helpers.js";

/**
 * BreakConnection applies the break at the relay (location's RevokePairs)
 * before it answers, and answers OK only then (SPEC §8 "Break is immediate").
 * The relay here is a fake that records calls and can be made to fail.
 */
let suite: Awaited<ReturnType<typeof startSuite>>;
const clients: Array<{ close(): void }> = [];
// The service's warnings, one JSON object per line.
const warnings: string[] = [];

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      warnings.push(chunk.toString());
      done();
    },
  });
  suite = await startSuite("break_relay", { log: pino({ level: "warn" }, sink) });
});
afterAll(async () => {
  clients.forEach((c) => c.close());
  await suite.stop();
});

async function connectedPair() {
  const a = registerAccount(suite.identity);
  const b = registerAccount(suite.identity);
  const [aClient, bClient] = [clientAs(suite.address, a.id), clientAs(suite.address, b.id)];
  clients.push(aClient, bClient);
  const sender = newPairId();
  const recipient = newPairId();
  const { serverSignature } = await aClient.initiateConnection({
    senderPairId: sender,
    recipientPairId: recipient,
    accountSignature: a.signInitiate(sender, recipient),
    ...bindTo(recipient),
  });
  await bClient.confirmConnection({
    senderPairId: sender,
    recipientPairId: recipient,
    serverSignature,
    ...recipientProof(sender, recipient),
  });
  return { aClient, bClient, sender, recipient };
}

test("a break revokes both pairIDs at the relay before it answers OK", async () => {
  const { bClient, sender, recipient } = await connectedPair();
  const calls = suite.location.revokedPairs.length;
  await bClient.breakConnection({ pairId: recipient });
  expect(suite.location.revokedPairs.slice(calls)).toEqual([[sender, recipient]]);
  expect((await bClient.listConnections({})).connections).toEqual([]);
});

test("when the relay cannot apply the break, BreakConnection answers Unavailable and the connection stays; a retry then breaks it", async () => {
  const { aClient, sender, recipient } = await connectedPair();
  expect(await waitFor(async () => (await suite.tables.count("outbox_events")) === 0)).toBe(true);
  const before = await suite.tables.snapshot();
  suite.location.state.fail = true;
  try {
    // The message tells the caller that nothing changed and a retry is the way out.
    await expect(aClient.breakConnection({ pairId: sender })).rejects.toMatchObject({
      code: Code.Unavailable,
      rawMessage: "the relay could not apply the break right now; nothing changed, retry",
    });
  } finally {
    suite.location.state.fail = false;
  }
  // The operator learns that the relay refused, and with which code.
  const failed = warnings
    .join("")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((record) => record.msg === "location RevokePairs failed");
  expect(failed).toEqual([expect.objectContaining({ level: 40, code: "Internal" })]);
  expect(await suite.tables.snapshot()).toBe(before);
  expect((await aClient.listConnections({})).connections).toEqual([expect.objectContaining({ pairId: sender })]);

  await aClient.breakConnection({ pairId: sender });
  expect(suite.location.revokedPairs.at(-1)).toEqual([sender, recipient]);
  expect((await aClient.listConnections({})).connections).toEqual([]);
});

test("a relay that answers only after 4 s is given up on at BreakConnection's 3 s deadline: Unavailable, the connection stays", async () => {
  // Past the 3 s RevokePairs deadline, inside the client's 5 s default and the transaction's 5 s
  // limit: only that deadline tells this apart from a slow success.
  const { aClient, sender } = await connectedPair();
  expect(await waitFor(async () => (await suite.tables.count("outbox_events")) === 0)).toBe(true);
  const before = await suite.tables.snapshot();
  suite.location.state.hangMs = 4000;
  try {
    await expect(aClient.breakConnection({ pairId: sender })).rejects.toMatchObject({ code: Code.Unavailable });
  } finally {
    suite.location.state.hangMs = 0;
  }
  expect(await suite.tables.snapshot()).toBe(before);
});
