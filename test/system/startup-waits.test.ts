import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { randomBytes } from "node:crypto";
import { pino } from "pino";
import { loadConfig as gatewayConfig } from "@seeme/gateway/config";
import { startGatewayService, type GatewayHandle } from "@seeme/gateway/service";
import { IdentityService as IdentityServiceDesc } from "@seeme/contracts/identity";
import { loadConfig as identityConfig } from "@seeme/identity/config";
import { startIdentityService, type IdentityService } from "@seeme/identity/service";
import { createTestDatabase, type TestDatabase } from "@seeme/testkit/database";
import { checkHealth } from "@seeme/testkit/health";
import { startTcpProxy, type TcpProxy } from "@seeme/testkit/tcp-proxy";
import { waitFor } from "@seeme/testkit/wait";
import { freePort } from "@seeme/testkit/ports";

/**
 * Start-up order does not matter: a service started while PostgreSQL refuses
 * connections and NATS is not running yet binds its port, answers health
 * NOT_SERVING, retries with backoff (one plain log line per retry) and turns
 * SERVING once both answer. On main it exited ("failed to start").
 */
const NATS_SERVER = "/usr/sbin/nats-server";

async function startNats(port: number, dir: string): Promise<ChildProcess> {
  const child = spawn(NATS_SERVER, ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir], { stdio: "ignore" });
  const up = () =>
    new Promise<boolean>((resolve) => {
      const socket = tcpConnect(port, "127.0.0.1", () => (socket.end(), resolve(true))).on("error", () =>
        resolve(false),
      );
    });
  if (!(await waitFor(up, 5000))) throw new Error("nats-server did not start");
  return child;
}

/** A pino logger whose lines the test reads. */
function capturedLog() {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { log: pino({ level: "info" }, sink), lines };
}

type Settled<T> = { state: "pending" } | { state: "resolved"; value: T } | { state: "rejected"; error: unknown };
function track<T>(promise: Promise<T>): { current: Settled<T> } {
  const box: { current: Settled<T> } = { current: { state: "pending" } };
  promise.then(
    (value) => (box.current = { state: "resolved", value }),
    (error: unknown) => (box.current = { state: "rejected", error }),
  );
  return box;
}

describe("start-up waits for PostgreSQL and NATS", () => {
  let database: TestDatabase;
  let postgres: TcpProxy;
  let natsDir: string;
  let nats: ChildProcess | undefined;
  const running: Array<{ stop(): Promise<void> }> = [];

  beforeAll(async () => {
    database = await createTestDatabase("startup_waits");
    const url = new URL(database.url);
    postgres = await startTcpProxy(url.hostname, Number(url.port || 5432));
    natsDir = await mkdtemp(join(tmpdir(), "seeme-startup-nats-"));
  });

  afterAll(async () => {
    for (const service of running.reverse()) await service.stop().catch(() => undefined);
    nats?.kill("SIGKILL");
    await postgres.close();
    await database.drop();
    await rm(natsDir, { recursive: true, force: true });
  });

  it("a service reports NOT_SERVING while PostgreSQL refuses and NATS is absent, then SERVING", async () => {
    postgres.cut();
    const natsPort = await freePort();
    const port = await freePort();
    const url = new URL(database.url);
    url.host = `127.0.0.1:${postgres.port}`;
    const { log, lines } = capturedLog();
    const starting = startIdentityService(
      identityConfig({
        IDENTITY_PORT: String(port),
        IDENTITY_DATABASE_URL: url.toString(),
        NATS_URL: `nats://127.0.0.1:${natsPort}`,
        NATS_SUBJECT_PREFIX: `t_startup_${randomBytes(4).toString("hex")}`,
        INTERNAL_AUTH_SECRET: randomBytes(32).toString("base64url"),
        METRICS_PORT: "0",
        HEALTH_INTERVAL_MS: "100",
      }),
      { log },
    );
    const start = track(starting);
    const address = `127.0.0.1:${port}`;

    // Bound and answering health, while PostgreSQL refuses.
    expect(await waitFor(async () => (await checkHealth(address).catch(() => "DOWN")) === "NOT_SERVING", 10_000)).toBe(
      true,
    );
    const pgRetries = () =>
      lines.filter((line) => line.msg === "PostgreSQL unreachable at start-up; NOT_SERVING, retrying");
    expect(await waitFor(() => pgRetries().length >= 3, 10_000)).toBe(true);
    expect(start.current.state).toBe("pending");

    // PostgreSQL back, NATS still absent: still waiting, now for NATS.
    postgres.restore();
    const natsRetries = () =>
      lines.filter((line) => line.msg === "NATS unreachable at start-up; NOT_SERVING, retrying");
    expect(await waitFor(() => natsRetries().length >= 2, 15_000)).toBe(true);
    expect(start.current.state).toBe("pending");
    expect(await checkHealth(address)).toBe("NOT_SERVING");

    nats = await startNats(natsPort, natsDir);
    expect(await waitFor(() => start.current.state !== "pending", 20_000)).toBe(true);
    expect(start.current.state).toBe("resolved");
    running.push((start.current as { value: IdentityService }).value);
    expect(await waitFor(async () => (await checkHealth(address)) === "SERVING", 10_000)).toBe(true);
    expect(await checkHealth(address, IdentityServiceDesc.typeName)).toBe("SERVING");

    // Each retry is one plain line: the reason, no stack.
    for (const line of [...pgRetries(), ...natsRetries()]) {
      expect(line.level).toBe(40);
      expect(typeof line.reason).toBe("string");
      expect(JSON.stringify(line)).not.toMatch(/\n\s+at /);
    }
  }, 90_000);

  it("the gateway listens NOT_SERVING while NATS is absent, then starts", async () => {
    const natsPort = await freePort();
    const port = await freePort();
    const { log } = capturedLog();
    const starting = track(
      startGatewayService(
        gatewayConfig({
          GATEWAY_PORT: String(port),
          GATEWAY_HOST: "127.0.0.1",
          NATS_URL: `nats://127.0.0.1:${natsPort}`,
          NATS_SUBJECT_PREFIX: `t_startup_${randomBytes(4).toString("hex")}`,
          INTERNAL_AUTH_SECRET: randomBytes(32).toString("base64url"),
          METRICS_PORT: "0",
          HEALTH_INTERVAL_MS: "100",
        }),
        { log },
      ),
    );
    const healthz = async () => {
      const response = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
      return response
        ? { status: response.status, body: (await response.json()) as { failing?: string[] } }
        : undefined;
    };
    expect(await waitFor(async () => (await healthz())?.body.failing?.includes("starting") === true, 10_000)).toBe(
      true,
    );
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(starting.current.state).toBe("pending");
    expect((await healthz())?.status).toBe(503);

    const second = await startNats(natsPort, await mkdtemp(join(tmpdir(), "seeme-startup-nats2-")));
    try {
      expect(await waitFor(() => starting.current.state !== "pending", 20_000)).toBe(true);
      expect(starting.current.state).toBe("resolved");
      const gateway = (starting.current as { value: GatewayHandle }).value;
      // No longer held for start-up; NOT_SERVING only for the upstreams this test does not run.
      expect((await healthz())?.body.failing).not.toContain("starting");
      await gateway.stop();
    } finally {
      second.kill("SIGKILL");
    }
  }, 60_000);
});
