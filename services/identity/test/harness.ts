import { IdentityInternalService, IdentityService } from "@seeme/contracts/identity";
import { CALLER_HEADER, SERVICE_HEADER, signCaller, signClientAddress, signService } from "@seeme/runtime/caller";
import type { Env } from "@seeme/runtime/config";
import { createGrpcClient } from "@seeme/runtime/grpc";
import type { Logger } from "@seeme/runtime/logger";
import { CLIENT_ADDRESS_HEADER } from "@seeme/runtime/rate-limit";
import { testClock } from "@seeme/testkit/clock";
import { createTestDatabase } from "@seeme/testkit/database";
import { startFakeLocation } from "@seeme/testkit/fake-location";
import { createTestBus } from "@seeme/testkit/nats";
import { loadConfig } from "../src/config.js";
import { startIdentityService, type IdentityService as StartedIdentity } from "../src/service.js";

export const SECRET = "identity-test-secret-".padEnd(48, "x");

/**
 * One identity service per suite on its own schema and NATS prefix, with a clock
 * tests advance instead of sleeping, and clients that present themselves the way
 * the gateway does.
 */
export async function startHarness(label: string, env: Env = {}, options: { log?: Logger } = {}) {
  const database = await createTestDatabase(label);
  const testBus = createTestBus(label);
  const clock = testClock();
  const now = clock.now;
  const location = await startFakeLocation(SECRET);
  const config = loadConfig({
    LOCATION_ADDR: location.address,
    IDENTITY_DATABASE_URL: database.url,
    NATS_URL: testBus.url,
    NATS_SUBJECT_PREFIX: testBus.prefix,
    INTERNAL_AUTH_SECRET: SECRET,
    IDENTITY_PORT: "0",
    METRICS_PORT: "0",
    LOG_LEVEL: "silent",
    IDENTITY_RATE_LIMIT_ADDRESS_BURST: "10000",
    IDENTITY_RATE_LIMIT_ACCOUNT_BURST: "10000",
    ...env,
  });
  const service: StartedIdentity = await startIdentityService(config, { now, log: options.log });
  const address = `127.0.0.1:${service.port}`;
  const clients: Array<{ close(): void }> = [];
  const track = <C extends { close(): void }>(client: C): C => {
    clients.push(client);
    return client;
  };
  const gatewayHeaders = (clientAddress: string) => ({
    [SERVICE_HEADER]: signService(SECRET, "gateway"),
    [CLIENT_ADDRESS_HEADER]: signClientAddress(SECRET, clientAddress),
  });
  const { db } = service.context;

  return {
    service,
    context: service.context,
    db,
    testBus,
    advance: clock.advance,
    /** The relay's internal API as a fake: what DeleteAccount revoked there. */
    location,
    /** Public IdentityService as the gateway forwards it for a signed-out client. */
    publicClient(clientAddress = "203.0.113.1") {
      return track(createGrpcClient(IdentityService, address, { headers: () => gatewayHeaders(clientAddress) }));
    },
    /** Public IdentityService for a client whose session the gateway verified. */
    callerClient(accountId: string, clientAddress = "203.0.113.1") {
      return track(
        createGrpcClient(IdentityService, address, {
          headers: () => ({ ...gatewayHeaders(clientAddress), [CALLER_HEADER]: signCaller(SECRET, accountId) }),
        }),
      );
    },
    /** Public IdentityService called around the gateway, claiming any address it likes. */
    spoofingClient(claimedAddress: string) {
      return track(
        createGrpcClient(IdentityService, address, {
          headers: () => ({
            [SERVICE_HEADER]: signService(SECRET, "gateway"),
            [CLIENT_ADDRESS_HEADER]: claimedAddress,
          }),
        }),
      );
    },
    internalClient(
      headers: () => Record<string, string> = () => ({ [SERVICE_HEADER]: signService(SECRET, "gateway") }),
    ) {
      return track(createGrpcClient(IdentityInternalService, address, { headers }));
    },
    async counts() {
      const [accounts, challenges, events] = await Promise.all([
        db.account.count(),
        db.challenge.count(),
        db.outboxEvent.count(),
      ]);
      return { accounts, challenges, events };
    },
    /**
     * How many database sessions wait on a lock held by backend `pid`, directly or queued behind
     * another waiter: race tests hold a lock, start calls and wait until they are queued.
     */
    async blockedBehind(pid: number): Promise<number> {
      const [{ n }] = await db.$queryRaw<{ n: number }[]>`
        WITH RECURSIVE waiting(pid) AS (
          SELECT pid FROM pg_stat_activity WHERE ${pid}::int = ANY(pg_blocking_pids(pid))
          UNION SELECT a.pid FROM pg_stat_activity a JOIN waiting w ON w.pid = ANY(pg_blocking_pids(a.pid)))
        SELECT count(*)::int AS n FROM waiting`;
      return n;
    },
    async stop() {
      clients.forEach((c) => c.close());
      await service.stop();
      await location.stop();
      await database.drop();
      await testBus.cleanup();
    },
  };
}

export type Harness = Awaited<ReturnType<typeof startHarness>>;
