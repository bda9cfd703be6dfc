import { Writable } from "node:stream";
import { Code } from "@connectrpc/connect";
import { pino } from "pino";
import { NOT_YOUR_CONNECTION } from "../src/access.js";
import { blob, countPackets, newConnection, newPairId, startHarness, type Harness } from "./helpers.js";

/**
 * The access check in front of the Sync statement (access.ts). The statement
 * refuses a pairID that is not the caller's by itself, so a Sync answer alone
 * cannot tell whether the check ran; what it guards is visible in the
 * recipient pairID's rate budget (taken only after the check passes) and in
 * the connection-service lookups it makes.
 */

const BURST = 3;
let h: Harness;
// The service's warnings, one JSON object per line (operators read the failed lookups there).
const warnings: string[] = [];

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      warnings.push(chunk.toString());
      done();
    },
  });
  h = await startHarness(
    "location-access",
    { RECIPIENT_PACKET_BURST: String(BURST), RECIPIENT_PACKETS_PER_SECOND: "1" },
    { log: pino({ level: "warn" }, sink) },
  );
});
afterAll(() => h.stop());

const packets = (pairId: string, from: number, count: number) =>
  Array.from({ length: count }, (_, i) => ({ pairId, packetId: from + i, blob: blob(`#${from + i}`) }));

const refused = { code: Code.PermissionDenied, rawMessage: NOT_YOUR_CONNECTION };

describe("the access check before a Sync's limits are taken", () => {
  it("a stranger sending to someone's pairID is refused before its packets count against that pairID's budget", async () => {
    const pair = newConnection();
    await h.connect(pair);
    const stranger = newConnection();
    await h.connect(stranger);
    await expect(h.as(stranger.a).sync({ data: packets(pair.bPair, 1, BURST) })).rejects.toMatchObject(refused);
    // The whole burst is still there for the real sender.
    await h.as(pair.a).sync({ data: packets(pair.bPair, 1, BURST) });
    expect(await countPackets(h.pool, pair.bPair)).toBe(BURST);
  });

  it("acknowledging under another account's pairID is refused before the call's own sends take any budget", async () => {
    const victim = newConnection();
    await h.connect(victim);
    const mine = newConnection();
    await h.connect(mine);
    // A stranger (mine.a), and the victim's own peer (victim.b, who may send to victim.aPair but not read it).
    for (const [caller, sendTo] of [
      [mine.a, mine.bPair],
      [victim.b, victim.aPair],
    ] as const) {
      await expect(
        h.as(caller).sync({
          data: packets(sendTo, 1, BURST),
          lastPacketsReceived: [{ pairId: victim.aPair, packetIds: [1] }],
        }),
      ).rejects.toMatchObject(refused);
      await h.as(caller).sync({ data: packets(sendTo, 1, BURST) });
      expect(await countPackets(h.pool, sendTo)).toBe(BURST);
    }
  });

  it("a sender known for one pairID who adds a stranger's pairID is refused before that pairID's budget is taken", async () => {
    const mine = newConnection();
    await h.connect(mine);
    const victim = newConnection();
    await h.connect(victim);
    // Allowed once to mine.bPair: this replica now knows mine.a as its sender.
    await h.as(mine.a).sync({ data: packets(mine.bPair, 1, 1) });
    await expect(
      h.as(mine.a).sync({ data: [...packets(mine.bPair, 2, 1), ...packets(victim.bPair, 1, BURST)] }),
    ).rejects.toMatchObject(refused);
    // Knowing the caller for one of its recipients says nothing of the other: the victim's burst is whole.
    await h.as(victim.a).sync({ data: packets(victim.bPair, 1, BURST) });
    expect(await countPackets(h.pool, victim.bPair)).toBe(BURST);
    expect(await countPackets(h.pool, mine.bPair)).toBe(1);
  });

  it("does not ask the connection service when the projection has every route", async () => {
    const pair = newConnection();
    await h.connect(pair);
    const before = h.connections.calls.listAccountRoutes;
    await h.as(pair.a).sync({ data: packets(pair.bPair, 1, 1) });
    expect(h.connections.calls.listAccountRoutes).toBe(before);
  });

  it("asks the connection service about unknown pairIDs at most a burst of times per account", async () => {
    const stranger = newConnection();
    await h.connect(stranger);
    const before = h.connections.calls.listAccountRoutes;
    for (let i = 0; i < 8; i++) {
      await expect(
        h.as(stranger.a).sync({ data: [{ pairId: newPairId(), packetId: 1, blob: blob("x") }] }),
      ).rejects.toMatchObject(refused);
    }
    // Five at once, one more per five seconds (route-lookup limit); eight without it.
    const lookups = h.connections.calls.listAccountRoutes - before;
    expect(lookups).toBeGreaterThanOrEqual(5);
    expect(lookups).toBeLessThanOrEqual(6);
  });

  // Last: it stops the fake connection service.
  it("answers Unavailable, not PermissionDenied, when the connection service cannot be asked", async () => {
    const pair = newConnection();
    h.connections.routes.set(pair.route.connectionId, pair.route);
    await h.connections.stop();
    h.connections.stop = async () => {};
    await expect(
      h.as(pair.a).sync({ data: [{ pairId: pair.bPair, packetId: 1, blob: blob("x") }] }),
    ).rejects.toMatchObject({ code: Code.Unavailable, rawMessage: "cannot verify connections right now; retry later" });
    expect(await countPackets(h.pool, pair.bPair)).toBe(0);
    // The operator learns why, in the error's own words.
    const failed = warnings
      .join("")
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { msg?: string; err?: string })
      .filter((record) => record.msg === "route fallback lookup failed");
    expect(failed).toEqual([expect.objectContaining({ err: expect.stringMatching(/^\[unavailable\] /) })]);
  });
});
