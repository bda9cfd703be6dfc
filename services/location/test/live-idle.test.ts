import type { IncomingPacket } from "@seeme/contracts/location";
import { startTcpProxy, type TcpProxy } from "@seeme/testkit/tcp-proxy";
import { blob, newConnection, startHarness, waitUntil, type Harness } from "./helpers.js";

/**
 * Idle live streams cost the database nothing (issue #15): no periodic re-read
 * per stream. The location service talks to PostgreSQL through a counting TCP
 * proxy; with 20 streams open and nothing happening, it sends (almost) nothing.
 * The background workers that poll on their own are slowed down for the window.
 */
let h: Harness;
let proxy: TcpProxy;

beforeAll(async () => {
  h = await startHarness("location-idle", {
    SWEEP_INTERVAL: "1h",
    RELEASE_INTERVAL: "1m",
    // The interval the old per-stream re-read used in tests; ignored now.
    SUBSCRIBE_RESYNC_INTERVAL: "100ms",
    SUBSCRIBE_MAX_STREAMS_PER_ACCOUNT: "100",
  });
  const target = new URL(h.env.LOCATION_DATABASE_URL);
  proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
  target.hostname = "127.0.0.1";
  target.port = String(proxy.port);
  h.env.LOCATION_DATABASE_URL = target.toString();
  await h.restart();
}, 30_000);

afterAll(async () => {
  await h?.stop();
  await proxy?.close();
});

it("20 idle Subscribe streams send no query to PostgreSQL, and a packet still arrives at once", async () => {
  const pair = newConnection();
  await h.connect(pair);
  const received: IncomingPacket[][] = [];
  const caughtUp: boolean[] = [];
  const abort = new AbortController();
  const readers = Array.from({ length: 20 }, async (_, i) => {
    received[i] = [];
    try {
      for await (const { event } of h.as(pair.b).subscribe({}, { signal: abort.signal })) {
        if (event.case === "caughtUp") caughtUp[i] = true;
        else if (event.case === "packet") received[i].push(event.value);
      }
    } catch {
      // Aborted at the end.
    }
  });
  await waitUntil(() => caughtUp.filter(Boolean).length === 20, 10_000);
  // Let the opening reads and lease statements finish.
  await new Promise((resolve) => setTimeout(resolve, 300));

  const before = proxy.bytesToTarget();
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const idleBytes = proxy.bytesToTarget() - before;
  // A stray lease renewal (one statement for all streams, every 20 s) fits; one query per stream would not.
  expect(idleBytes).toBeLessThan(2000);

  await h.as(pair.a).sync({ data: [{ pairId: pair.bPair, packetId: 1, blob: blob("still live") }] });
  await waitUntil(() => received.every((packets) => packets.some((p) => p.packetId === 1)), 5000);
  abort.abort();
  await Promise.all(readers);
}, 30_000);
