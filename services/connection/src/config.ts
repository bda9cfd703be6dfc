import {
  ConfigError,
  configReader,
  readCommonConfig,
  readSharedLimits,
  type CommonConfig,
  type Env,
  type SharedLimits,
} from "@seeme/runtime/config";
import type { RateLimit } from "@seeme/runtime/rate-limit";

export interface ConnectionConfig extends CommonConfig, SharedLimits {
  port: number;
  databaseUrl: string;
  identityAddr: string;
  /** host:port of location's internal API: a break is applied at the relay before BreakConnection answers. */
  locationAddr: string;
  /** Ed25519 seed from SERVER_SIGNING_KEY; undefined in development means "use signingKeyFile". */
  serverSigningKey?: Uint8Array;
  /** Where a development key is generated once and reused. */
  signingKeyFile: string;
  inviteSweepIntervalMs: number;
  outboxIntervalMs: number;
  /** Initiates per account (each writes an invite and asks identity to verify a signature). */
  initiateRate: RateLimit;
  /** Unused, unexpired invites one account may hold at once. */
  maxPendingInvites: number;
}

function signingSeed(name: string, text: string): Uint8Array {
  const seed = Buffer.from(text, "base64");
  // Buffer.from drops invalid characters silently; re-encoding catches them.
  if (seed.length !== 32 || seed.toString("base64").replace(/=+$/, "") !== text.replace(/=+$/, "")) {
    throw new ConfigError(name, "must be a base64-encoded 32-byte Ed25519 seed");
  }
  return new Uint8Array(seed);
}

export function loadConfig(env: Env): ConnectionConfig {
  const read = configReader(env);
  const keyText = read.optional("SERVER_SIGNING_KEY");
  // A production server must never invent its own key: every invite it signs
  // would become unconfirmable on the next restart or on another replica.
  if (keyText === undefined && env.NODE_ENV === "production") {
    throw new ConfigError("SERVER_SIGNING_KEY", "is required in production (base64 32-byte Ed25519 seed)");
  }
  return {
    ...readCommonConfig(env, 9102),
    ...readSharedLimits(env),
    port: read.port("CONNECTION_PORT", 50052),
    databaseUrl: read.url("CONNECTION_DATABASE_URL", undefined, ["postgresql", "postgres"]),
    identityAddr: read.string("IDENTITY_ADDR", "127.0.0.1:50051"),
    locationAddr: read.string("LOCATION_ADDR", "127.0.0.1:50053"),
    serverSigningKey: keyText === undefined ? undefined : signingSeed("SERVER_SIGNING_KEY", keyText),
    signingKeyFile: read.string("SERVER_SIGNING_KEY_FILE", ".data/server-signing-key"),
    inviteSweepIntervalMs: read.durationMs("INVITE_SWEEP_INTERVAL", "30s", { min: "100ms", max: "1h" }),
    outboxIntervalMs: read.durationMs("OUTBOX_POLL_INTERVAL", "1s", { min: "10ms", max: "1m" }),
    initiateRate: {
      capacity: read.int("INITIATE_BURST", 10, { min: 1 }),
      perSecond: read.int("INITIATE_PER_MINUTE", 10, { min: 1 }) / 60,
    },
    maxPendingInvites: read.int("MAX_PENDING_INVITES", 20, { min: 1, max: 10_000 }),
  };
}
