import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { IncomingPacket } from "@seeme/contracts/location";
import { blob, countPackets, newConnection, startHarness, waitUntil, type Harness } from "./helpers.js";
import { freePort } from "@seeme/testkit/ports";

/**
 * A NATS restart cannot be staged on the machine's shared server, so this suite
 * runs its own nats-server (JetStream on disk) and restarts it mid-test.
 */
let h: Harness;
let nats: ChildProcess | undefined;
let storeDir: string;
let port: number;

async function startNats(): Promise<void> {
  nats = spawn("nats-server", ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", storeDir], { stdio: "ignore" });
  await waitUntil(
    () =>
      new Promise<boolean>((resolve) => {
        const probe = createServer();
        probe.once("error", () => resolve(true));
        probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(false)));
      }),
  );
}

async function stopNats(): Promise<void> {
  const child = nats;
  nats = undefined;
  if (!child || child.exitCode !== null) return;
  await new Promise((resolve) => {
    child.once("exit", resolve);
    child.kill("SIGTERM");
  });
}

beforeAll(async () => {
  storeDir = await mkdtemp(join(tmpdir(), "location-nats-"));
  port = await freePort();
  await startNats();
  h = await startHarness("location-nats", { NATS_URL: `nats://127.0.0.1:${port}`, SUBSCRIBE_POLL_INTERVAL: "300ms" });
}, 30_000);

afterAll(async () => {
  await h?.stop();
  await stopNats();
  await rm(storeDir, { recursive: true, force: true });
});

it("a NATS restart loses no stored packet: Sync keeps working, live streams catch up, events flow again", async () => {
  const pair = newConnection();
  await h.connect(pair);
  const live: IncomingPacket[] = [];
  const abort = new AbortController();
  const reading = (async () => {
    try {
      for await (const event of h.as(pair.b).subscribe({}, { signal: abort.signal })) {
        if (event.event.case === "packet") live.push(event.event.value);
      }
    } catch {
      // Aborted at the end of the test.
    }
  })();
  const a = h.as(pair.a);
  await a.sync({ data: [{ pairId: pair.bPair, packetId: 1, blob: blob("before") }] });
  await waitUntil(() => live.some((p) => p.packetId === 1));

  await stopNats();
  await a.sync({ data: [{ pairId: pair.bPair, packetId: 2, blob: blob("during") }] });
  expect(await countPackets(h.pool, pair.bPair)).toBe(2);

  await startNats();
  await waitUntil(() => h.location.context.bus.isConnected() && h.events.isConnected(), 15_000);
  await waitUntil(() => live.some((p) => p.packetId === 2), 5000);
  await a.sync({ data: [{ pairId: pair.bPair, packetId: 3, blob: blob("after") }] });
  await waitUntil(() => live.some((p) => p.packetId === 3), 5000);
  expect(live.map((p) => p.packetId)).toEqual([1, 2, 3]);

  // JetStream consumers resume: a connection made after the restart is routed.
  const later = newConnection();
  await h.connect(later);

  expect((await h.as(pair.b).sync({})).data.filter((p) => p.pairId === pair.bPair).map((p) => p.packetId)).toEqual([
    1, 2, 3,
  ]);
  abort.abort();
  await reading;
}, 30_000);

it("while NATS is down, live streams still get packets by polling the database; once it is back, pushes resume and polling stops", async () => {
  const pair = newConnection();
  await h.connect(pair);
  const live: IncomingPacket[] = [];
  let caughtUp = false;
  const abort = new AbortController();
  const reading = (async () => {
    try {
      for await (const { event } of h.as(pair.b).subscribe({}, { signal: abort.signal })) {
        if (event.case === "caughtUp") caughtUp = true;
        else if (event.case === "packet") live.push(event.value);
      }
    } catch {
      // Aborted at the end of the test.
    }
  })();
  await waitUntil(() => caughtUp);
  const a = h.as(pair.a);

  await stopNats();
  await waitUntil(() => !h.location.context.bus.isConnected(), 5000);
  await a.sync({ data: [{ pairId: pair.bPair, packetId: 1, blob: blob("during the outage") }] });
  // Delivered while NATS is still down (SUBSCRIBE_POLL_INTERVAL is 300 ms here).
  await waitUntil(() => live.some((p) => p.packetId === 1), 5000);
  expect(h.location.context.bus.isConnected()).toBe(false);

  await startNats();
  await waitUntil(() => h.location.context.bus.isConnected() && h.events.isConnected(), 15_000);
  await waitUntil(() => !h.location.context.live.polling, 5000);
  // Idle and connected again: no more re-reads.
  const rereads = h.location.context.live.rereads;
  await new Promise((resolve) => setTimeout(resolve, 1000));
  expect(h.location.context.live.rereads).toBe(rereads);
  await a.sync({ data: [{ pairId: pair.bPair, packetId: 2, blob: blob("pushed again") }] });
  await waitUntil(() => live.some((p) => p.packetId === 2), 5000);
  expect(h.location.context.live.rereads).toBe(rereads);
  expect(live.map((p) => p.packetId)).toEqual([1, 2]);
  abort.abort();
  await reading;
}, 40_000);
