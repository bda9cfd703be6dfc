import net from "node:net";
import { createClient } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { GatewayService } from "@seeme/contracts/gateway";
import { Health } from "@seeme/contracts/health";
import { IdentityInternalService } from "@seeme/contracts/identity";
import { LocationService } from "@seeme/contracts/location";
import { callerOf, requireCaller, requireService, verifiedClientAddress } from "@seeme/runtime/caller";
import { registration } from "@seeme/runtime/grpc";
import { createLogger } from "@seeme/runtime/logger";
import { BACKLOG_ONLY_HEADER } from "@seeme/runtime/live-stream";
import { CLIENT_ADDRESS_HEADER } from "@seeme/runtime/rate-limit";
import { startFakeService, type FakeService } from "@seeme/testkit/fake-service";
import { waitFor } from "@seeme/testkit/health";
import { createTestBus } from "@seeme/testkit/nats";
import { sessionTokenMinter } from "@seeme/testkit/session-tokens";
import type { SessionClaims } from "@seeme/runtime/session-token";
import { loadConfig } from "../src/config.js";
import { clientAddress } from "../src/http.js";
import { startGatewayService, type GatewayHandle } from "../src/service.js";

/**
 * The gateway in isolation: real grpc-js upstream servers stand in for the
 * internal services (the full stack is exercised in test/e2e), so each gateway
 * concern — protocols, session checks, header hygiene, health, CORS — is shown
 * on its own.
 */
const secret = "gateway-test-secret-".padEnd(40, "x");
let goodToken: string;
/** Its Subscribe stays silent for longer than the gateway's idle timeout before sending. */
let slowToken: string;
const silent = createLogger("test", "silent");

describe("gateway", () => {
  let upstream: FakeService;
  let gateway: GatewayHandle;
  let upstreamUp = true;
  let verifyCalls = 0;
  const seen: Array<{ account: string; address: string | null; forged: string | null }> = [];

  const bus = createTestBus("gateway");
  let mint: (accountId: string, claims?: Partial<SessionClaims>) => Promise<string>;

  beforeAll(async () => {
    mint = await sessionTokenMinter(secret);
    goodToken = await mint("account-1");
    slowToken = await mint("slow-account");
    upstream = await startFakeService(
      "upstream",
      [
        registration(
          IdentityInternalService,
          {
            // The gateway verifies tokens itself: this must never be called.
            verifySession() {
              verifyCalls += 1;
              throw new ConnectError("not expected", Code.Internal);
            },
            verifySignature: () => ({ valid: false }),
          },
          requireService(secret),
        ),
        registration(
          LocationService,
          {
            sync(_request, ctx) {
              seen.push({
                account: callerOf(ctx),
                address: verifiedClientAddress(secret, ctx.requestHeader.get(CLIENT_ADDRESS_HEADER)) ?? null,
                forged: ctx.requestHeader.get("x-seeme-forged"),
              });
              return { hasMore: true };
            },
            // The backlog, then caught_up; then live packets would follow until the call ends. Like
            // location, a backlog-only read (the gateway holding the stream itself) ends at caught_up.
            async *subscribe(_request, ctx) {
              if (callerOf(ctx) === "slow-account") {
                await new Promise((resolve) => setTimeout(resolve, 1500));
                yield { event: { case: "packet", value: { pairId: "p", packetId: 1 } } };
              } else {
                for (let packetId = 1; packetId <= 3; packetId++)
                  yield { event: { case: "packet", value: { pairId: "p", packetId } } };
              }
              yield { event: { case: "caughtUp", value: true } };
              if (ctx.requestHeader.get(BACKLOG_ONLY_HEADER) !== null) return;
              await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
            },
          },
          requireCaller(secret),
        ),
      ],
      { probes: { fake: () => upstreamUp }, healthIntervalMs: 50 },
    );
    const address = upstream.address;
    gateway = await startGatewayService(
      loadConfig({
        INTERNAL_AUTH_SECRET: secret,
        NATS_SUBJECT_PREFIX: bus.prefix,
        GATEWAY_PORT: "0",
        GATEWAY_HOST: "127.0.0.1",
        METRICS_PORT: "0",
        IDENTITY_ADDR: address,
        CONNECTION_ADDR: address,
        LOCATION_ADDR: address,
        HEALTH_INTERVAL_MS: "100",
        IDLE_TIMEOUT: "1s",
        MAX_PACKETS_PER_SYNC: "10",
      }),
      { log: silent },
    );
  });

  afterAll(async () => {
    await gateway.stop();
    await upstream.stop();
    await bus.cleanup();
  });

  const baseUrl = () => `http://127.0.0.1:${gateway.port}`;
  const auth = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
  const transports = () => ({
    "Connect over HTTP/1.1": createConnectTransport({ baseUrl: baseUrl(), httpVersion: "1.1" }),
    "gRPC over h2c": createGrpcTransport({ baseUrl: baseUrl() }),
    "gRPC-web over HTTP/1.1": createGrpcWebTransport({ baseUrl: baseUrl(), httpVersion: "1.1" }),
  });

  it("serves the public API over Connect, gRPC and gRPC-web", async () => {
    for (const [name, transport] of Object.entries(transports())) {
      const info = await createClient(GatewayService, transport).getServerInfo({});
      expect({ name, version: info.apiVersion, blob: info.maxBlobBytes }).toEqual({ name, version: "v1", blob: 4096 });
      const sync = await createClient(LocationService, transport).sync({}, auth(goodToken));
      expect(sync.hasMore).toBe(true);
    }
  });

  it("serves server streams on every protocol", async () => {
    for (const [name, transport] of Object.entries(transports())) {
      const ids: number[] = [];
      for await (const event of createClient(LocationService, transport).subscribe({}, auth(goodToken))) {
        if (event.event.case === "packet") ids.push(event.event.value.packetId);
        else break;
      }
      expect({ name, ids }).toEqual({ name, ids: [1, 2, 3] });
    }
  });

  it("passes the verified account upstream and drops identity headers a client sends", async () => {
    seen.length = 0;
    const client = createClient(LocationService, transports()["Connect over HTTP/1.1"]);
    await client.sync(
      {},
      {
        headers: {
          authorization: `Bearer ${goodToken}`,
          "x-seeme-caller": "account-2.9999999999999.forged",
          "x-seeme-forged": "1",
          [CLIENT_ADDRESS_HEADER]: "6.6.6.6",
          "x-forwarded-for": "7.7.7.7",
        },
      },
    );
    expect(seen).toEqual([{ account: "account-1", address: "127.0.0.1", forged: null }]);
  });

  it("refuses missing, malformed and unknown sessions with Unauthenticated", async () => {
    const client = createClient(LocationService, transports()["Connect over HTTP/1.1"]);
    await expect(client.sync({})).rejects.toMatchObject({ code: Code.Unauthenticated });
    await expect(client.sync({}, { headers: { authorization: "Basic abc" } })).rejects.toMatchObject({
      code: Code.Unauthenticated,
    });
    await expect(client.sync({}, auth("unknown-token-0123456789"))).rejects.toMatchObject({
      code: Code.Unauthenticated,
      rawMessage: "invalid or expired session",
    });
  });

  it("verifies session tokens itself: never asks identity; refuses expired, foreign-key and tampered tokens", async () => {
    const client = createClient(LocationService, transports()["Connect over HTTP/1.1"]);
    await client.sync({}, auth(goodToken));
    await client.sync({}, auth(await mint("account-1")));
    expect(verifyCalls).toBe(0);
    const refused = [
      await mint("account-1", { issuedAt: Date.now() - 20 * 60_000, expiresAt: Date.now() - 5 * 60_000 }),
      await (await sessionTokenMinter(secret, new Uint8Array(32).fill(9)))("account-1"),
      `${goodToken.slice(0, -4)}AAAA`,
      // Longer than any token identity issues.
      await mint("account-1", { expiresAt: Date.now() + 2 * 3_600_000 }),
    ];
    for (const token of refused)
      await expect(client.sync({}, auth(token))).rejects.toMatchObject({
        code: Code.Unauthenticated,
        rawMessage: "invalid or expired session",
      });
    expect(seen.filter((call) => call.account !== "account-1")).toEqual([]);
  });

  it("answers CORS preflights for browsers", async () => {
    const response = await fetch(`${baseUrl()}/seeme.location.v1.LocationService/Sync`, {
      method: "OPTIONS",
      headers: {
        origin: "http://app.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type",
      },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    expect(response.headers.get("access-control-allow-headers")).toMatch(/Authorization/);
  });

  it("follows upstream health on /healthz and grpc.health.v1", async () => {
    const health = createClient(Health, transports()["gRPC over h2c"]);
    expect((await fetch(`${baseUrl()}/healthz`)).status).toBe(200);
    expect((await health.check({})).status).toBe(1);
    upstreamUp = false;
    expect(await waitFor(async () => (await fetch(`${baseUrl()}/healthz`)).status === 503)).toBe(true);
    expect((await fetch(`${baseUrl()}/livez`)).status).toBe(200);
    expect((await health.check({ service: "seeme.location.v1.LocationService" })).status).toBe(2);
    upstreamUp = true;
    expect(await waitFor(async () => (await fetch(`${baseUrl()}/healthz`)).status === 200)).toBe(true);
    await expect(health.check({ service: "nope" })).rejects.toMatchObject({ code: Code.NotFound });
  });

  it("refuses bodies larger than the largest valid Sync before reading them whole", async () => {
    // MAX_PACKETS_PER_SYNC=10 here: the cap is 10 × (4096 + 64) bytes + 256 KiB.
    const response = await fetch(`${baseUrl()}/seeme.gateway.v1.GatewayService/GetServerInfo`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ padding: "x".repeat(2 * 1024 * 1024) }),
    });
    expect(response.status).toBe(429);
    expect(await response.json()).toMatchObject({ code: "resource_exhausted" });
  });

  it("closes connections that stay idle or never send a request", async () => {
    const socket = net.connect(gateway.port, "127.0.0.1");
    const closedAfter = await new Promise<number>((resolve) => {
      const opened = Date.now();
      socket.once("close", () => resolve(Date.now() - opened));
    });
    expect(closedAfter).toBeGreaterThanOrEqual(900);
    expect(closedAfter).toBeLessThan(5000);
  });

  it("keeps a quiet stream open past the idle timeout", async () => {
    const ids: number[] = [];
    for await (const event of createClient(LocationService, transports()["gRPC over h2c"]).subscribe(
      {},
      auth(slowToken),
    )) {
      if (event.event.case === "packet") ids.push(event.event.value.packetId);
      else break;
    }
    expect(ids).toEqual([1]);
  });
});

describe("clientAddress", () => {
  const req = (forwardedFor: string | undefined, remoteAddress = "10.0.0.2") => ({
    headers: forwardedFor === undefined ? {} : { "x-forwarded-for": forwardedFor },
    socket: { remoteAddress },
  });

  it("uses the socket address when no proxy is trusted, whatever the client claims", () => {
    expect(clientAddress(req("1.2.3.4"), 0)).toBe("10.0.0.2");
  });

  it("takes the address the trusted proxy saw, not what the client wrote before it", () => {
    expect(clientAddress(req("203.0.113.9"), 1)).toBe("203.0.113.9");
    expect(clientAddress(req("6.6.6.6, 203.0.113.9"), 1)).toBe("203.0.113.9");
    expect(clientAddress(req("6.6.6.6, 203.0.113.9, 10.0.0.1"), 2)).toBe("203.0.113.9");
    expect(clientAddress(req(undefined), 1)).toBe("10.0.0.2");
  });
});
