import type { Client } from "@connectrpc/connect";
import type { ConnectionInternalService } from "@seeme/contracts/connection";
import type { Logger } from "@seeme/runtime/logger";
import type { EventBus } from "@seeme/runtime/nats";
import type { RateLimiter } from "@seeme/runtime/rate-limit";
import type { LocationConfig } from "./config.js";
import type { LocationDb } from "./db/client.js";

/** Everything handlers, consumers and workers need; tests build it with their own clock. */
export interface LocationContext {
  config: LocationConfig;
  log: Logger;
  db: LocationDb;
  bus: EventBus;
  /** The service's clock: store and expiry times, and what counts as expired. */
  now: () => Date;
  /** The connection service's internal API: route fallback and projection rebuild. */
  connections: Client<typeof ConnectionInternalService>;
  limits: {
    /** Outgoing packets per sending account. */
    sender: RateLimiter;
    /** Incoming packets per recipient pairID. */
    recipient: RateLimiter;
    /** Fallback lookups per account, so bad pairIDs cannot flood the connection service. */
    routeLookup: RateLimiter;
  };
}
