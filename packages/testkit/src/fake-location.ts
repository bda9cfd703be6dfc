import { LocationInternalService } from "@seeme/contracts/location";
import { requireService } from "@seeme/runtime/caller";
import { registration } from "@seeme/runtime/grpc";
import { startGrpcHost } from "@seeme/runtime/host";
import { createLogger } from "@seeme/runtime/logger";
import { createMetrics } from "@seeme/runtime/metrics";

/**
 * Stands in for the relay's internal API in suites that test one service
 * alone (identity, connection): a real gRPC server with the real service guard
 * that records each revocation, so a suite can assert that BreakConnection or
 * DeleteAccount applied it at the relay before answering. `fail` makes it
 * answer Unavailable, as a relay that is down would; `hangMs` delays every answer, as a
 * relay that hangs would.
 */
export async function startFakeLocation(secret: string) {
  const revokedPairs: string[][] = [];
  const revokedAccounts: string[] = [];
  const state = { fail: false, hangMs: 0 };
  // Every call: refused while `fail`, answered only after `hangMs` (a relay that hangs).
  const answer = async () => {
    if (state.fail) throw new Error("fake location is down");
    if (state.hangMs > 0) await new Promise((resolve) => setTimeout(resolve, state.hangMs));
  };
  const host = await startGrpcHost({
    name: "location-fake",
    host: "127.0.0.1",
    port: 0,
    log: createLogger("location-fake", "silent"),
    metrics: createMetrics("location-fake"),
    healthIntervalMs: 60_000,
    shutdownTimeoutMs: 1000,
    probes: {},
    cleanup: [],
    registrations: [
      registration(
        LocationInternalService,
        {
          revokePairs: async (req) => {
            await answer();
            revokedPairs.push([...req.pairIds]);
            return {};
          },
          revokeAccount: async (req) => {
            await answer();
            revokedAccounts.push(req.accountId);
            return {};
          },
        },
        requireService(secret),
      ),
    ],
  });
  return { address: `127.0.0.1:${host.port}`, revokedPairs, revokedAccounts, state, stop: host.stop };
}
