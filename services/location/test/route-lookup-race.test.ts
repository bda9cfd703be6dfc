import { blob, countPackets, newConnection, startHarness, type Harness } from "./helpers.js";

/**
 * Two Syncs that each look up the same new connection at once (access.ts's fallback to the
 * connection service) both save it (db/routes.ts's saveRoutes), in two transactions that both
 * found it missing: the second's insert meets the first's rows and must let them be.
 */

let h: Harness;

beforeAll(async () => {
  // All of the test's Syncs at once, on a busy machine too: admission keeps its full width.
  h = await startHarness("location-route-race", { ADMISSION_MIN_IN_FLIGHT: "64" });
});
afterAll(() => h.stop());

it("both devices of a new connection syncing at once, before its event arrives, both get through (mutation testing, #19)", async () => {
  // Known to the connection service, not yet to the projection. Several connections at once, so
  // that the two sides' transactions overlap for some of them (each lookup is a round trip to
  // the connection service first).
  const pairs = Array.from({ length: 12 }, () => newConnection());
  for (const pair of pairs) h.connections.routes.set(pair.route.connectionId, pair.route);
  await Promise.all(
    pairs.flatMap((pair) => [
      h.as(pair.a).sync({ data: [{ pairId: pair.bPair, packetId: 1, blob: blob("from a") }] }),
      h.as(pair.b).sync({ data: [{ pairId: pair.aPair, packetId: 1, blob: blob("from b") }] }),
    ]),
  );
  for (const pair of pairs) {
    expect(await countPackets(h.pool, pair.bPair)).toBe(1);
    expect(await countPackets(h.pool, pair.aPair)).toBe(1);
    const { rows } = await h.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM route WHERE connection_id = $1",
      [pair.route.connectionId],
    );
    expect(rows[0].n).toBe(2);
  }
});
