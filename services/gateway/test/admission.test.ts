import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { Health } from "@seeme/contracts/health";
import { LocationService } from "@seeme/contracts/location";
import { RETRY_AFTER_HEADER } from "@seeme/runtime/admission";
import { requireCaller } from "@seeme/runtime/caller";
import { registration } from "@seeme/runtime/grpc";
import { createLogger } from "@seeme/runtime/logger";
import { sessionTokenMinter } from "@seeme/testkit/session-tokens";
import { waitFor } from "@seeme/testkit/wait";
import { loadConfig } from "../src/config.js";
import { startGatewayService, type GatewayHandle } from "../src/service.js";
import { startFakeService, type FakeService } from "@seeme/testkit/fake-service";

const secret = "admission-test-secret-".padEnd(40, "x");
const silent = createLogger("test", "silent");

/**
 * The gateway bounds the unary calls it works on: a flood beyond the bound is
 * refused with ResourceExhausted and a retry-after-ms hint (a header on
 * Connect, a trailer on gRPC) while the admitted calls complete, and health
 * checks are answered throughout. On main every call was taken in and queued.
 */
describe("gateway admission control", () => {
  let upstream: FakeService;
  let gateway: GatewayHandle;
  // Admitted Syncs wait at the relay until the test lets them go.
  const held: Array<() => void> = [];
  // Verified by the gateway itself (identity signs them; no identity call).
  let token: string;

  beforeAll(async () => {
    token = await (await sessionTokenMinter(secret))("account-1");
    upstream = await startFakeService(
      "upstream",
      [
        registration(
          LocationService,
          {
            sync: async () => {
              await new Promise<void>((resolve) => held.push(resolve));
              return { hasMore: false };
            },
            async *subscribe() {},
          },
          requireCaller(secret),
        ),
      ],
      { healthIntervalMs: 50 },
    );
    const address = upstream.address;
    gateway = await startGatewayService(
      loadConfig({
        INTERNAL_AUTH_SECRET: secret,
        NATS_SUBJECT_PREFIX: `t_admission_${process.pid}`,
        GATEWAY_PORT: "0",
        GATEWAY_HOST: "127.0.0.1",
        METRICS_PORT: "0",
        IDENTITY_ADDR: address,
        CONNECTION_ADDR: address,
        LOCATION_ADDR: address,
        HEALTH_INTERVAL_MS: "100",
        ADMISSION_MAX_IN_FLIGHT: "3",
        ADMISSION_MAX_QUEUE: "2",
        ADMISSION_MAX_WAIT: "300ms",
        // Syncs here are held as long as the test likes: no adapting.
        ADMISSION_TARGET_LATENCY: "60s",
      }),
      { log: silent },
    );
  });

  afterAll(async () => {
    while (held.length) held.shift()?.();
    await gateway.stop();
    await upstream.stop();
  });

  const baseUrl = () => `http://127.0.0.1:${gateway.port}`;
  const auth = () => ({ headers: { authorization: `Bearer ${token}` } });

  async function flood(transport: Transport, calls: number) {
    const location = createClient(LocationService, transport);
    let answered = 0;
    const results = Array.from({ length: calls }, () =>
      location.sync({}, auth()).then(
        () => "OK" as const,
        (error: unknown) => {
          answered++;
          return ConnectError.from(error);
        },
      ),
    );
    // Only the bound reaches the relay; the rest wait at most 300 ms, then are refused
    // (waited for rather than timed: the test machine is slow and shared).
    await waitFor(() => held.length + answered >= calls, 20_000);
    const reachedRelay = held.length;
    // Health is never shed.
    const health = await createClient(Health, transport).check({});
    while (held.length) held.shift()?.();
    const settled = await Promise.all(results);
    return { reachedRelay, health, settled };
  }

  for (const [protocol, transport] of [
    ["Connect", () => createConnectTransport({ baseUrl: baseUrl(), httpVersion: "1.1" })],
    ["gRPC", () => createGrpcTransport({ baseUrl: baseUrl() })],
  ] as const) {
    it(`refuses a flood beyond the bound with ResourceExhausted and retry-after-ms (${protocol})`, async () => {
      const { reachedRelay, health, settled } = await flood(transport(), 20);
      expect(reachedRelay).toBe(3);
      expect(health.status).toBeDefined();
      expect(settled.filter((result) => result === "OK")).toHaveLength(3);
      const refused = settled.filter((result): result is ConnectError => result instanceof ConnectError);
      expect(refused).toHaveLength(17);
      for (const error of refused) {
        expect(error.code).toBe(Code.ResourceExhausted);
        expect(Number(error.metadata.get(RETRY_AFTER_HEADER))).toBeGreaterThanOrEqual(50);
      }
      // Every slot came back.
      expect(gateway.admission.active).toBe(0);
      expect(gateway.admission.waiting).toBe(0);
    });
  }
});
