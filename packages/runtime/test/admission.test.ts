import { Code, ConnectError } from "@connectrpc/connect";
import { GatewayService } from "@seeme/contracts/gateway";
import { Admission, RETRY_AFTER_HEADER } from "@seeme/runtime/admission";
import { readCommonConfig } from "@seeme/runtime/config";
import { createGrpcClient, registration } from "@seeme/runtime/grpc";
import { startGrpcHost, type GrpcHost } from "@seeme/runtime/host";
import { createLogger } from "@seeme/runtime/logger";
import { createMetrics } from "@seeme/runtime/metrics";
import { requireCaller, CALLER_HEADER, signCaller } from "@seeme/runtime/caller";
import { checkHealth } from "@seeme/testkit/health";

const secret = "s".repeat(40);

/**
 * Admission control on a real grpc-js server: calls beyond the bound are
 * refused at once with ResourceExhausted and a retry hint, while the admitted
 * ones finish normally and health keeps answering.
 */
describe("admission control", () => {
  let host: GrpcHost;
  // Each admitted call holds its slot until the test lets it go.
  const held: Array<() => void> = [];
  let started = 0;

  beforeAll(async () => {
    const limits = readCommonConfig(
      {
        INTERNAL_AUTH_SECRET: secret,
        ADMISSION_MAX_IN_FLIGHT: "4",
        ADMISSION_MAX_QUEUE: "2",
        ADMISSION_MAX_WAIT: "200ms",
        // Calls here are held for as long as the test likes: no adapting.
        ADMISSION_TARGET_LATENCY: "60s",
      },
      0,
    ).admission;
    host = await startGrpcHost({
      name: "admission",
      port: 0,
      host: "127.0.0.1",
      log: createLogger("admission", "silent"),
      metrics: createMetrics("admission"),
      healthIntervalMs: 60_000,
      shutdownTimeoutMs: 1000,
      probes: {},
      cleanup: [],
      admission: limits,
      registrations: [
        registration(
          GatewayService,
          {
            getServerInfo: async () => {
              started++;
              await new Promise<void>((resolve) => held.push(resolve));
              return { apiVersion: "v1", maxBlobBytes: 1 };
            },
          },
          requireCaller(secret),
        ),
      ],
    });
  });

  afterAll(() => host.stop());

  it("refuses calls beyond the bound with ResourceExhausted and retry-after-ms while admitted calls complete", async () => {
    const address = `127.0.0.1:${host.port}`;
    const client = createGrpcClient(GatewayService, address, {
      headers: () => ({ [CALLER_HEADER]: signCaller(secret, "acct") }),
    });
    // 20 calls at once against 4 slots and 2 places in the queue.
    const calls = Array.from({ length: 20 }, () =>
      client.getServerInfo({}).then(
        () => "OK" as const,
        (error: unknown) => ConnectError.from(error),
      ),
    );
    // The 14 beyond slots + queue are refused without waiting for anything.
    const refusedAtOnce = await Promise.race([
      Promise.all(calls.slice(0)).then(() => -1),
      new Promise<number>((resolve) => setTimeout(() => resolve(started), 1000)),
    ]);
    expect(refusedAtOnce).toBe(4);
    // Health is never shed.
    expect(await checkHealth(address)).toBe("SERVING");
    // Let the admitted ones finish; the queued ones waited longer than 200 ms and were refused too.
    while (held.length) held.shift()?.();
    const results = await Promise.all(calls);
    const ok = results.filter((r) => r === "OK").length;
    const refused = results.filter((r): r is ConnectError => r instanceof ConnectError);
    expect(ok).toBe(4);
    expect(refused).toHaveLength(16);
    for (const error of refused) {
      expect(error.code).toBe(Code.ResourceExhausted);
      expect(Number(error.metadata.get(RETRY_AFTER_HEADER))).toBeGreaterThanOrEqual(50);
    }
    expect(host.admission?.active).toBe(0);
    client.close();
  });

  it("lets a queued call through when a slot frees within the wait", async () => {
    const address = `127.0.0.1:${host.port}`;
    const client = createGrpcClient(GatewayService, address, {
      headers: () => ({ [CALLER_HEADER]: signCaller(secret, "acct") }),
    });
    started = 0;
    const calls = Array.from({ length: 5 }, () =>
      client.getServerInfo({}).then(
        () => "OK",
        (error: unknown) => ConnectError.from(error).code,
      ),
    );
    while (started < 4) await new Promise((resolve) => setTimeout(resolve, 10));
    // One of the four finishes: the fifth, waiting in the queue, takes its slot.
    held.shift()?.();
    while (started < 5) await new Promise((resolve) => setTimeout(resolve, 10));
    while (held.length) held.shift()?.();
    expect(await Promise.all(calls)).toEqual(["OK", "OK", "OK", "OK", "OK"]);
    client.close();
  });

  it("adapts the limit: shrinks when calls hold their slot longer than the target, grows back when fast", async () => {
    let now = 0;
    const admission = new Admission(
      { maxInFlight: 10, minInFlight: 2, targetLatencyMs: 100, maxQueue: 0, maxWaitMs: 0 },
      () => now,
    );
    expect(admission.limit).toBe(10);
    const fill = () => Promise.all(Array.from({ length: admission.limit }, () => admission.acquire()));
    // A round of fast calls (10 ms) sets the no-queue baseline; at the ceiling, the limit stays.
    let releases = await fill();
    now += 10;
    for (const release of releases) release();
    expect(admission.limit).toBe(10);
    // A round of slow calls (300 ms): one decrease per target interval, not one per call.
    releases = await fill();
    now += 300;
    for (const release of releases) release();
    expect(admission.limit).toBe(8);
    // Below the limit, a call is admitted (and its instant release does not grow an unreached limit).
    (await admission.acquire())();
    expect(admission.limit).toBe(8);
    now += 1000;
    // Still slow a few rounds later: well down, never below the floor (once only a couple
    // run at once and they are still slow, that is the machine's speed, not a queue).
    for (let round = 0; round < 10; round++) {
      releases = await fill();
      now += 300;
      for (const release of releases) release();
    }
    expect(admission.limit).toBeLessThanOrEqual(4);
    expect(admission.limit).toBeGreaterThanOrEqual(2);
    // Fast calls at the limit grow it back, about one per `limit` calls.
    for (let round = 0; round < 40; round++) {
      releases = await fill();
      now += 10;
      for (const release of releases) release();
    }
    expect(admission.limit).toBeGreaterThan(5);
    expect(admission.limit).toBeLessThanOrEqual(10);
  });

  it("does not shrink for calls that are slow even alone (the machine, not a queue)", async () => {
    let now = 0;
    const admission = new Admission(
      { maxInFlight: 10, minInFlight: 2, targetLatencyMs: 100, maxQueue: 0, maxWaitMs: 0 },
      () => now,
    );
    for (let round = 0; round < 5; round++) {
      const release = await admission.acquire();
      now += 400;
      release();
    }
    // Every call took 400 ms with nothing else running: the baseline, not overload.
    expect(admission.limit).toBe(10);
  });
});
