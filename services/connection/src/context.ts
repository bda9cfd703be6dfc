import type { Client } from "@connectrpc/connect";
import type { IdentityInternalService } from "@seeme/contracts/identity";
import type { LocationInternalService } from "@seeme/contracts/location";
import type { Logger } from "@seeme/runtime/logger";
import type { Limiter } from "@seeme/runtime/shared-limits";
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
  /** The relay's internal API: BreakConnection revokes both pairIDs there before it answers. */
  location: Pick<Client<typeof LocationInternalService>, "revokePairs">;
  limits: {
    /** Initiates per account. */
    initiate: Limiter;
  };
  /** Publish committed outbox rows now instead of at the next poll. */
  publishEvents(): void;
}
