import type { Client } from "@connectrpc/connect";
import type { IdentityInternalService } from "@seeme/contracts/identity";
import type { Logger } from "@seeme/runtime/logger";
import type { RateLimiter } from "@seeme/runtime/rate-limit";
import type { ConnectionConfig } from "./config.js";
import type { Db } from "./db/client.js";
import type { ServerSigner } from "./signing-key.js";

/** Everything a handler needs, built once in service.ts; tests build their own. */
export interface ConnectionContext {
  config: ConnectionConfig;
  log: Logger;
  db: Db;
  now: () => Date;
  signer: ServerSigner;
  identity: Pick<Client<typeof IdentityInternalService>, "verifySignature">;
  limits: {
    /** Initiates per account. */
    initiate: RateLimiter;
  };
  /** Publish committed outbox rows now instead of at the next poll. */
  publishEvents(): void;
}
