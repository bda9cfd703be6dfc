import type { Client } from "@connectrpc/connect";
import type { ConnectionInternalService } from "@seeme/contracts/connection";
import type { DirectDatabase } from "@seeme/runtime/db";
import type { Logger } from "@seeme/runtime/logger";
import type { EventBus } from "@seeme/runtime/nats";
import type { Limiter, LimitStore } from "@seeme/runtime/shared-limits";
import type { LocationConfig } from "./config.js";
import type { LocationDb } from "./db/client.js";
import type { GroupCommit } from "./db/group-commit.js";
import type { LiveHub } from "@seeme/runtime/live-hub";
import type { AbsentSubscriptions } from "./push/absent.js";

/** Everything handlers, consumers and workers need; tests build it with their own clock. */
export interface LocationContext {
  config: LocationConfig;
  log: Logger;
  db: LocationDb;
  /** The Sync path's statements on `pg` directly (same pool as `db`): Prisma's client cost 2× pg's for them. */
  sql: DirectDatabase;
  /** Sync statements arriving together share one transaction and commit (db/group-commit.ts). */
  syncs: GroupCommit;
  bus: EventBus;
  /** Live delivery to this process's Subscribe streams (one NATS subscription for all of them). */
  live: LiveHub;
  /** The service's clock: store and expiry times, and what counts as expired. */
  now: () => Date;
  /** The connection service's internal API: route fallback and projection rebuild. */
  connections: Client<typeof ConnectionInternalService>;
  limits: {
    /** Outgoing packets per sending account. */
    sender: Limiter;
    /** Incoming packets per recipient pairID. */
    recipient: Limiter;
    /** Fallback lookups per account, so bad pairIDs cannot flood the connection service. */
    routeLookup: Limiter;
  };
  /** Accounts recently found without a push subscription (push/absent.ts): the notifier's, forgotten on registration. */
  pushAbsent: AbsentSubscriptions;
  /** Live-stream leases shared by all replicas (the per-account Subscribe cap); absent: counted per replica. */
  streamLeases?: Pick<LimitStore, "acquireLease">;
}
