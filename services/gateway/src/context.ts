import type { Client } from "@connectrpc/connect";
import type { ConnectionService } from "@seeme/contracts/connection";
import type { IdentityService } from "@seeme/contracts/identity";
import type { LocationService, PushService } from "@seeme/contracts/location";
import type { DependencyMonitor } from "@seeme/runtime/health";
import type { Logger } from "@seeme/runtime/logger";
import type { GatewayConfig } from "./config.js";
import type { PublicStreams } from "./public-streams.js";
import type { SessionVerifier } from "./sessions.js";

export interface GatewayContext {
  config: GatewayConfig;
  log: Logger;
  sessions: SessionVerifier;
  monitor: DependencyMonitor;
  publicStreams: PublicStreams;
  upstream: {
    identity: Client<typeof IdentityService>;
    connection: Client<typeof ConnectionService>;
    location: Client<typeof LocationService>;
    push: Client<typeof PushService>;
  };
}
