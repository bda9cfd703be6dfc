import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { events } from "@seeme/contracts/subjects";
import { collector } from "@seeme/testkit/nats";
import { waitUntil } from "@seeme/testkit/wait";
import { connectEventBus } from "../src/nats.js";
import { freePort } from "@seeme/testkit/ports";

// A private nats-server (same binary as the shared one) that this suite may kill.
const NATS_SERVER = "/usr/sbin/nats-server";
const log = pino({ level: "silent" });
let dir: string;
let port: number;
let server: ChildProcess | null = null;

async function startServer(): Promise<void> {
  server = spawn(NATS_SERVER, ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir], { stdio: "ignore" });
  const deadline = Date.now() + 5000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const s = tcpConnect(port, "127.0.0.1", () => (s.end(), resolve(true))).on("error", () => resolve(false));
    });
    if (up) return;
    if (Date.now() > deadline) throw new Error("nats-server did not start");
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function killServer(): Promise<void> {
  const s = server;
  server = null;
  if (!s || s.exitCode !== null) return;
  const exited = new Promise((r) => s.once("exit", r));
  s.kill("SIGKILL");
  await exited;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "seeme-nats-"));
  port = await freePort();
  await startServer();
});

afterAll(async () => {
  await killServer();
  await rm(dir, { recursive: true, force: true });
});

test("the bus reconnects after a NATS restart and its durable consumer resumes", async () => {
  const bus = await connectEventBus({ url: `nats://127.0.0.1:${port}`, prefix: "restart", name: "restart-test", log });
  await bus.ensureStreams(["CONNECTION"]);
  const got = collector<string>();
  const c = await bus.consume(events.connectionBroken, { durable: "svc", handler: (m) => got.push(m.eventId) });
  await bus.publish(events.connectionBroken, { eventId: "before" }, { msgId: "m-before" });
  await got.take(1);

  await killServer();
  await waitUntil(() => !bus.isConnected());
  expect(bus.status()).toBe("reconnecting");

  await startServer();
  await waitUntil(() => bus.isConnected(), 10_000);
  // Stream and consumer came back from disk; the consumer keeps pulling.
  await bus.publish(events.connectionBroken, { eventId: "after" }, { msgId: "m-after" });
  expect(await got.take(2, 10_000)).toEqual(["before", "after"]);

  await c.stop();
  await bus.drain();
}, 25_000);
