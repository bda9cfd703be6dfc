import { configReader, readCommonConfig, type CommonConfig, type Env } from "@seeme/runtime/config";
import type { RateLimit } from "@seeme/runtime/rate-limit";
import { readSessionSigningSeed, SESSION_TOKEN_MAX_TTL_MS } from "@seeme/runtime/session-token";

export interface IdentityConfig extends CommonConfig {
  port: number;
  databaseUrl: string;
  /** host:port of location's internal API: DeleteAccount revokes the account at the relay before answering. */
  locationAddr: string;
  /** How long a session lasts: live streams and push registrations opened with it end then. */
  sessionTtlMs: number;
  /**
   * How long one session token verifies (minutes): the SDK signs in again
   * before it runs out, and it bounds how long a revocation a gateway missed
   * could matter.
   */
  sessionTokenTtlMs: number;
  /** Ed25519 seed that signs session tokens (SESSION_SIGNING_KEY; derived in development). */
  sessionSigningSeed: Uint8Array;
  /** How long a challenge may be answered; never more than five minutes. */
  challengeTtlMs: number;
  /** How often expired challenges, sessions and relayed outbox rows are deleted. */
  sweepIntervalMs: number;
  /** How often the outbox relay looks for unpublished events; every commit that records one also kicks it. */
  outboxIntervalMs: number;
  /** Register, challenge and sign-in calls per client network address (each method its own bucket). */
  addressLimit: RateLimit;
  /** Register, challenge and sign-in calls per account or public key (each method its own bucket). */
  accountLimit: RateLimit;
}

function rateLimit(read: ReturnType<typeof configReader>, prefix: string, burst: number, perMinute: number): RateLimit {
  return {
    capacity: read.int(`${prefix}_BURST`, burst, { min: 1, max: 1_000_000 }),
    perSecond: read.int(`${prefix}_PER_MINUTE`, perMinute, { min: 1, max: 1_000_000 }) / 60,
  };
}

export function loadConfig(env: Env): IdentityConfig {
  const read = configReader(env);
  return {
    ...readCommonConfig(env, 9101),
    port: read.port("IDENTITY_PORT", 50051),
    databaseUrl: read.url("IDENTITY_DATABASE_URL", undefined, ["postgresql", "postgres"]),
    locationAddr: read.string("LOCATION_ADDR", "127.0.0.1:50053"),
    sessionTtlMs: read.durationMs("SESSION_TTL", "24h", { min: "1m", max: "30d" }),
    // At least 2 minutes: the SDK renews a token one minute before it ends.
    sessionTokenTtlMs: read.durationMs("SESSION_TOKEN_TTL", "15m", {
      min: "2m",
      max: `${SESSION_TOKEN_MAX_TTL_MS / 60_000}m`,
    }),
    sessionSigningSeed: readSessionSigningSeed(env),
    challengeTtlMs: read.durationMs("CHALLENGE_TTL", "5m", { min: "10s", max: "5m" }),
    sweepIntervalMs: read.durationMs("IDENTITY_SWEEP_INTERVAL", "1m", { min: "1s", max: "1h" }),
    outboxIntervalMs: read.durationMs("OUTBOX_POLL_INTERVAL", "1s", { min: "10ms", max: "1m" }),
    addressLimit: rateLimit(read, "IDENTITY_RATE_LIMIT_ADDRESS", 20, 20),
    accountLimit: rateLimit(read, "IDENTITY_RATE_LIMIT_ACCOUNT", 5, 5),
  };
}
