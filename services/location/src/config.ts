import {
  configReader,
  readCommonConfig,
  readLiveStreamLimits,
  readSharedLimits,
  type CommonConfig,
  type Env,
  type LiveStreamLimits,
  type SharedLimits,
} from "@seeme/runtime/config";
import type { RateLimit } from "@seeme/runtime/rate-limit";
import { readPushConfig, type PushConfig } from "./push/config.js";

export interface LocationConfig extends CommonConfig, SharedLimits, LiveStreamLimits {
  port: number;
  databaseUrl: string;
  /** host:port of the connection service's internal API (route fallback and rebuild). */
  connectionAddr: string;
  /** Bearer credential of LocationAdminService. */
  adminToken: string;
  /** Incoming packets per Sync page when the client asks for none. */
  defaultPageSize: number;
  /** Upper bound on a client's requested page size. */
  maxPageSize: number;
  /** Group commit: how long a Sync waits for others to share its commit (0: those arriving in the same event-loop turn). */
  syncGroupCommitMs: number;
  /** Most Syncs sharing one commit; 1 commits each alone (group commit off). */
  syncGroupCommitMax: number;
  /** Outgoing packets per sending account. */
  senderRate: RateLimit;
  /** Incoming packets per recipient pairID. */
  recipientRate: RateLimit;
  sweepIntervalMs: number;
  /** How often held packets (check-in) that fell due are pushed to Subscribe streams. */
  releaseIntervalMs: number;
  /** Web Push wake-ups; undefined when no VAPID key is configured (push off). */
  push: PushConfig | undefined;
}

export function loadConfig(env: Env): LocationConfig {
  const read = configReader(env);
  const maxPageSize = read.int("SYNC_MAX_PAGE_SIZE", 500, { min: 1, max: 5000 });
  return {
    ...readCommonConfig(env, 9103),
    ...readSharedLimits(env),
    port: read.port("LOCATION_PORT", 50053),
    databaseUrl: read.url("LOCATION_DATABASE_URL", undefined, ["postgresql", "postgres"]),
    connectionAddr: read.string("CONNECTION_ADDR", "127.0.0.1:50052"),
    adminToken: read.secret("ADMIN_TOKEN", 32),
    defaultPageSize: read.int("SYNC_PAGE_SIZE", 100, { min: 1, max: maxPageSize }),
    maxPageSize,
    syncGroupCommitMs: read.int("SYNC_GROUP_COMMIT_MS", 0, { min: 0, max: 50 }),
    // On since 2026-12-03 (night): with the Sync statement on pg, trimmed to each request's parts, and its
    // limits in one statement, the Syncs of one event-loop turn sharing a commit cost 20–25% less CPU per
    // packet end to end and halve the open-loop latency (BENCHMARKS.md); 1 turns it off.
    syncGroupCommitMax: read.int("SYNC_GROUP_COMMIT_MAX", 32, { min: 1, max: 1000 }),
    senderRate: {
      capacity: read.int("SENDER_PACKET_BURST", 1000, { min: 1 }),
      perSecond: read.int("SENDER_PACKETS_PER_SECOND", 50, { min: 1 }),
    },
    recipientRate: {
      capacity: read.int("RECIPIENT_PACKET_BURST", 500, { min: 1 }),
      perSecond: read.int("RECIPIENT_PACKETS_PER_SECOND", 20, { min: 1 }),
    },
    sweepIntervalMs: read.durationMs("SWEEP_INTERVAL", "1m", { min: "10ms", max: "1h" }),
    releaseIntervalMs: read.durationMs("RELEASE_INTERVAL", "1s", { min: "10ms", max: "1m" }),
    ...readLiveStreamLimits(env),
    push: readPushConfig(env),
  };
}
