import { Code, ConnectError } from "@connectrpc/connect";
import { GatewayService } from "@seeme/contracts/gateway";
import { LocationService } from "@seeme/contracts/location";
import { createGrpcClient, registration } from "@seeme/runtime/grpc";
import { startGrpcHost, type GrpcHost } from "@seeme/runtime/host";
import { createLogger } from "@seeme/runtime/logger";
import { createMetrics } from "@seeme/runtime/metrics";
import { callerOf, CALLER_HEADER, requireCaller, signCaller } from "@seeme/runtime/caller";
import { checkHealth, waitFor } from "@seeme/testkit/health";
import { listServices } from "@seeme/testkit/reflection";

const secret = "s".repeat(40);

describe("grpc host", () => {
  let host: GrpcHost;
  let databaseUp = true;
  let streamEnded = false;

  beforeAll(async () => {
    host = await startGrpcHost({
      name: "test",
      port: 0,
      host: "127.0.0.1",
      log: createLogger("test", "silent"),
      metrics: createMetrics("test"),
      metricsPort: 0,
      healthIntervalMs: 100,
      shutdownTimeoutMs: 2000,
      probes: { postgres: () => databaseUp },
      cleanup: [],
      registrations: [
        registration(
          GatewayService,
          {
            getServerInfo: (_req, ctx) => {
              if (callerOf(ctx) === "forbidden") throw new ConnectError("nope", Code.PermissionDenied);
              return { apiVersion: `v1:${callerOf(ctx)}`, maxBlobBytes: 4096 };
            },
          },
          requireCaller(secret),
        ),
        registration(
          LocationService,
          {
            sync: () => {
              throw new Error("boom");
            },
            async *subscribe(_req, ctx) {
              yield { event: { case: "caughtUp", value: true } };
              // Stays open until the server shuts down, like a live subscription.
              await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
              streamEnded = true;
            },
          },
          requireCaller(secret),
        ),
      ],
    });
  });

  afterAll(() => host.stop());

  const address = () => `127.0.0.1:${host.port}`;
  const asCaller = (id: string) => ({ headers: () => ({ [CALLER_HEADER]: signCaller(secret, id) }) });

  it("serves a unary method with the verified caller and maps errors to status codes", async () => {
    const client = createGrpcClient(GatewayService, address(), asCaller("acct-1"));
    const info = await client.getServerInfo({});
    expect(info.apiVersion).toBe("v1:acct-1");
    expect(info.maxBlobBytes).toBe(4096);
    const forbidden = createGrpcClient(GatewayService, address(), asCaller("forbidden"));
    await expect(forbidden.getServerInfo({})).rejects.toMatchObject({
      code: Code.PermissionDenied,
      rawMessage: "nope",
    });
    [client, forbidden].forEach((c) => c.close());
  });

  it("refuses calls without a valid caller and hides internal errors", async () => {
    const anonymous = createGrpcClient(GatewayService, address());
    await expect(anonymous.getServerInfo({})).rejects.toMatchObject({ code: Code.Unauthenticated });
    const forged = createGrpcClient(GatewayService, address(), {
      headers: () => ({ [CALLER_HEADER]: signCaller("x".repeat(40), "acct-1") }),
    });
    await expect(forged.getServerInfo({})).rejects.toMatchObject({ code: Code.Unauthenticated });
    const location = createGrpcClient(LocationService, address(), asCaller("acct-1"));
    await expect(location.sync({})).rejects.toMatchObject({ code: Code.Internal, rawMessage: "internal error" });
    [anonymous, forged, location].forEach((c) => c.close());
  });

  it("reports dependency state on grpc.health.v1 without a restart", async () => {
    expect(await checkHealth(address())).toBe("SERVING");
    expect(await checkHealth(address(), "seeme.gateway.v1.GatewayService")).toBe("SERVING");
    databaseUp = false;
    expect(await waitFor(async () => (await checkHealth(address())) === "NOT_SERVING")).toBe(true);
    // Liveness ignores dependencies: restarting would not bring the database back.
    expect(await checkHealth(address(), "liveness")).toBe("SERVING");
    databaseUp = true;
    expect(await waitFor(async () => (await checkHealth(address())) === "SERVING")).toBe(true);
  });

  it("lists its services through server reflection", async () => {
    expect(await listServices(address())).toEqual(
      expect.arrayContaining(["seeme.gateway.v1.GatewayService", "seeme.location.v1.LocationService"]),
    );
  });

  it("exposes Prometheus metrics counting handled calls", async () => {
    const text = await (await fetch(`http://127.0.0.1:${host.metricsPort}/metrics`)).text();
    expect(text).toMatch(
      /seeme_rpc_handled_total\{service="seeme.gateway.v1.GatewayService",method="GetServerInfo",code="OK"[^}]*\} [1-9]/,
    );
  });

  it("ends open streams and drains on shutdown", async () => {
    const location = createGrpcClient(LocationService, address(), asCaller("acct-1"));
    const events: unknown[] = [];
    const reading = (async () => {
      for await (const event of location.subscribe({})) events.push(event.event.case);
    })();
    expect(await waitFor(() => events.length === 1)).toBe(true);
    const started = Date.now();
    await host.stop();
    await reading;
    expect(streamEnded).toBe(true);
    expect(events).toEqual(["caughtUp"]);
    expect(Date.now() - started).toBeLessThan(2000);
    location.close();
  });
});
