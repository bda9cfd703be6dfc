import type { Client } from "@connectrpc/connect";
import type { LocationInternalService } from "@seeme/contracts/location";
import type { Logger } from "@seeme/runtime/logger";
import type { SessionSigner } from "@seeme/runtime/session-token";
import type { Limiter } from "@seeme/runtime/shared-limits";
import type { IdentityConfig } from "./config.js";
import type { IdentityDb } from "./db/client.js";

/** Everything an RPC handler needs, built once in service.ts; tests reach it through the started service. */
export interface IdentityContext {
  config: IdentityConfig;
  log: Logger;
  db: IdentityDb;
  /** Signs session tokens; gateways verify them with its public half. */
  sessions: SessionSigner;
  /** Wall clock, injectable so expiry is testable without sleeping. */
  now: () => Date;
  /** The relay's internal API: DeleteAccount revokes the account there before it answers. */
  location: Pick<Client<typeof LocationInternalService>, "revokeAccount">;
  /** Publish committed outbox rows now rather than at the next poll. */
  publishEvents: () => void;
  limits: {
    /** Keyed by `<method>:<client address>`. */
    address: Limiter;
    /** Keyed by `<method>:<account id or public key>`. */
    account: Limiter;
  };
}
