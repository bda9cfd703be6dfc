import { ConnectionInternalService, ConnectionService } from "@seeme/contracts/connection";
import { IdentityInternalService } from "@seeme/contracts/identity";
import { LocationInternalService } from "@seeme/contracts/location";
import { events } from "@seeme/contracts/subjects";
import { requireCaller, requireService, SERVICE_HEADER, signService } from "@seeme/runtime/caller";
import { createGrpcClient, registration } from "@seeme/runtime/grpc";
import { createLogger, type Logger } from "@seeme/runtime/logger";
import { startOutboxRelay } from "@seeme/runtime/outbox";
import { LimitStore } from "@seeme/runtime/shared-limits";
import { prismaSchema, serve, startServiceBase } from "@seeme/runtime/service";
import type { ConnectionConfig } from "./config.js";
import type { ConnectionContext } from "./context.js";
import { createDb } from "./db/client.js";
import { outboxStore } from "./db/outbox.js";
import { onAccountDeleted } from "./events/account-deleted.js";
import { breakConnection } from "./rpc/break-connection.js";
import { confirmConnection } from "./rpc/confirm-connection.js";
import { initiateConnection } from "./rpc/initiate-connection.js";
import { listAccountRoutes } from "./rpc/list-account-routes.js";
import { listConnections } from "./rpc/list-connections.js";
import { listRoutes } from "./rpc/list-routes.js";
import { loadSigner } from "./signing-key.js";
import { startInviteSweeper, type InviteSweeper } from "./sweeper.js";

export interface ConnectionServiceOptions {
  now?: () => Date;
  log?: Logger;
  /**
   * Test hook: commit outbox rows but never publish them, which is what a
   * process stopped between the commit and the publish leaves behind.
   */
  holdEvents?: boolean;
}

export interface RunningConnectionService {
  port: number;
  context: ConnectionContext;
  sweeper: InviteSweeper;
  stop(): Promise<void>;
}

export async function startConnectionService(
  config: ConnectionConfig,
  options: ConnectionServiceOptions = {},
): Promise<RunningConnectionService> {
  const log = options.log ?? createLogger("connection", config.logLevel);
  const signer = await loadSigner(config, log);
  const base = await startServiceBase({
    name: "connection",
    port: config.port,
    schema: prismaSchema(new URL("../../../prisma/connection/", import.meta.url)),
    common: config,
    databaseUrl: config.databaseUrl,
    createClient: createDb,
    log,
  });
  const secret = config.internalAuthSecret;
  const identity = createGrpcClient(IdentityInternalService, config.identityAddr, {
    headers: () => ({ [SERVICE_HEADER]: signService(secret, "connection") }),
    defaultTimeoutMs: 5000,
  });
  const location = createGrpcClient(LocationInternalService, config.locationAddr, {
    headers: () => ({ [SERVICE_HEADER]: signService(secret, "connection") }),
    defaultTimeoutMs: 5000,
  });
  const relay = options.holdEvents
    ? undefined
    : startOutboxRelay({ store: outboxStore(base.db), bus: base.bus, log, intervalMs: config.outboxIntervalMs });
  const limitStore = await LimitStore.open(config.databaseUrl, { log });
  const context: ConnectionContext = {
    config,
    log,
    db: base.db,
    now: options.now ?? (() => new Date()),
    signer,
    identity,
    location,
    limits: { initiate: limitStore.limiter("initiate", config.initiateRate) },
    publishEvents: () => relay?.kick(),
  };
  const sweeper = startInviteSweeper(context, config.inviteSweepIntervalMs);
  try {
    const consumer = await base.bus.consume(events.accountDeleted, {
      durable: "connection",
      handler: onAccountDeleted(context),
    });
    const host = await serve(base, {
      registrations: [
        registration(
          ConnectionService,
          {
            initiateConnection: initiateConnection(context),
            confirmConnection: confirmConnection(context),
            breakConnection: breakConnection(context),
            listConnections: listConnections(context),
          },
          requireCaller(secret),
        ),
        registration(
          ConnectionInternalService,
          {
            listAccountRoutes: listAccountRoutes(context),
            listRoutes: listRoutes(context),
            getInviteSigningKey: () => ({ publicKey: signer.publicKey }),
          },
          requireService(secret),
        ),
      ],
      // Producers of outbox rows stop first, then the relay publishes what they left.
      workers: [
        sweeper,
        consumer,
        ...(relay ? [relay] : []),
        { stop: () => identity.close() },
        { stop: () => location.close() },
        { stop: () => limitStore.close() },
      ],
    });
    return { port: host.port, context, sweeper, stop: host.stop };
  } catch (error) {
    await sweeper.stop();
    await relay?.stop();
    identity.close();
    location.close();
    await base.host.stop();
    throw error;
  }
}
