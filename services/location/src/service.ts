import { ConnectionInternalService } from "@seeme/contracts/connection";
import {
  HeldPacketService,
  LocationAdminService,
  LocationInternalService,
  LocationService,
  PushService,
} from "@seeme/contracts/location";
import { events } from "@seeme/contracts/subjects";
import { requireAdmin, requireCaller, requireService, SERVICE_HEADER, signService } from "@seeme/runtime/caller";
import { createGrpcClient, registration } from "@seeme/runtime/grpc";
import type { Logger } from "@seeme/runtime/logger";
import type { ConsumerHandle } from "@seeme/runtime/nats";
import type { Metrics } from "@seeme/runtime/metrics";
import { LimitStore } from "@seeme/runtime/shared-limits";
import { prismaSchema, serve, startServiceBase } from "@seeme/runtime/service";
import type { LocationConfig } from "./config.js";
import type { LocationContext } from "./context.js";
import { createLocationDb } from "./db/client.js";
import { GroupCommit } from "./db/group-commit.js";
import { onAccountDeleted } from "./events/account-deleted.js";
import { onConnectionBroken } from "./events/connection-broken.js";
import { onConnectionConfirmed } from "./events/connection-confirmed.js";
import { onInviteExpired } from "./events/invite-expired.js";
import { LiveHub } from "@seeme/runtime/live-hub";
import { startProjectionRebuild } from "./projection.js";
import { getPushConfig } from "./push/get-push-config.js";
import { AbsentSubscriptions } from "./push/absent.js";
import { startPushNotifier, type PushNotifier } from "./push/notifier.js";
import { onAccountKeyRotated } from "./push/on-sessions-ended.js";
import { registerPushSubscription } from "./push/register-push-subscription.js";
import { unregisterPushSubscription } from "./push/unregister-push-subscription.js";
import { queueServerMessage } from "./rpc/queue-server-message.js";
import { revokeAccount, revokePairs } from "./rpc/revoke.js";
import { subscribe } from "./rpc/subscribe.js";
import { sync } from "./rpc/sync.js";
import { startReleaser } from "./release.js";
import { cancelHeldPacket, rescheduleHeldPacket } from "./rpc/held-packets.js";
import { startSweeper } from "./sweeper.js";

/** JetStream durable consumer name (one consumer per event). */
const DURABLE = "location";
/** A consumer whose handler keeps failing must not keep the relay NOT_SERVING for ever. */
const CATCH_UP_MAX_MS = 30_000;

async function routesCaughtUp(projection: Promise<void>, consumers: ConsumerHandle[], log: Logger): Promise<void> {
  await projection;
  const caughtUp = await Promise.all(consumers.map((consumer) => consumer.caughtUp(CATCH_UP_MAX_MS)));
  if (caughtUp.includes(false)) log.warn({ waitedMs: CATCH_UP_MAX_MS }, "route events not caught up; serving anyway");
  else log.info("route projection caught up");
}

export interface RunningLocationService {
  port: number;
  context: LocationContext;
  /** Resolves once the route projection is complete (immediately when it already was). */
  projectionReady: Promise<void>;
  /** This replica's Prometheus metrics (calls served per method and code). */
  metrics: Metrics;
  /** Web Push wake-ups (absent when no VAPID key is configured); tests call flush() after moving the clock. */
  pushNotifier?: PushNotifier;
  stop(): Promise<void>;
}

/** Starts the relay: migrated database, event consumers, projection rebuild, sweeper, then the gRPC server. */
export async function startLocationService(
  config: LocationConfig,
  options: { now?: () => Date; log?: Logger } = {},
): Promise<RunningLocationService> {
  const base = await startServiceBase({
    name: "location",
    port: config.port,
    schema: prismaSchema(new URL("../../../prisma/location/", import.meta.url)),
    common: config,
    databaseUrl: config.databaseUrl,
    createClient: createLocationDb,
    log: options.log,
  });
  const connections = createGrpcClient(ConnectionInternalService, config.connectionAddr, {
    headers: () => ({ [SERVICE_HEADER]: signService(config.internalAuthSecret, "location") }),
    defaultTimeoutMs: 5000,
  });
  const limitStore = await LimitStore.open(config.databaseUrl, { log: base.log });
  const context: LocationContext = {
    config,
    log: base.log,
    db: base.db,
    sql: base.sql,
    syncs: new GroupCommit(base.sql, { windowMs: config.syncGroupCommitMs, maxBatch: config.syncGroupCommitMax }),
    bus: base.bus,
    live: new LiveHub(base.bus, base.log, config.subscribePollMs),
    now: options.now ?? (() => new Date()),
    connections,
    limits: {
      sender: limitStore.limiter("sender", config.senderRate),
      recipient: limitStore.limiter("recipient", config.recipientRate),
      routeLookup: limitStore.limiter("route-lookup", { capacity: 5, perSecond: 0.2 }),
    },
    streamLeases: limitStore,
    pushAbsent: new AbsentSubscriptions(config.push?.absentCacheMs ?? 0),
  };

  const consumers = [
    await base.bus.consume(events.connectionConfirmed, { durable: DURABLE, handler: onConnectionConfirmed(context) }),
    await base.bus.consume(events.connectionBroken, { durable: DURABLE, handler: onConnectionBroken(context) }),
    await base.bus.consume(events.inviteExpired, { durable: DURABLE, handler: onInviteExpired(context) }),
    await base.bus.consume(events.accountDeleted, { durable: DURABLE, handler: onAccountDeleted(context) }),
  ];
  const projection = startProjectionRebuild(context);
  const sweeper = startSweeper(context, config.sweepIntervalMs);
  await base.bus.consume(events.accountKeyRotated, { durable: DURABLE, handler: onAccountKeyRotated(context) });
  const pushNotifier = config.push ? startPushNotifier(context, config.push) : undefined;
  const releaser = startReleaser(context, config.releaseIntervalMs);

  const host = await serve(base, {
    // SERVING only once routes are current: the projection is built and the
    // route events stored before this start (including those a crashed
    // instance had taken) are applied.
    ready: routesCaughtUp(projection.done, consumers, base.log),
    registrations: [
      registration(
        LocationService,
        { sync: sync(context), subscribe: subscribe(context) },
        requireCaller(config.internalAuthSecret),
      ),
      registration(
        PushService,
        {
          getPushConfig: getPushConfig(context),
          registerPushSubscription: registerPushSubscription(context),
          unregisterPushSubscription: unregisterPushSubscription(context),
        },
        requireCaller(config.internalAuthSecret),
      ),
      registration(
        HeldPacketService,
        {
          cancelHeldPacket: cancelHeldPacket(context),
          rescheduleHeldPacket: rescheduleHeldPacket(context),
        },
        requireCaller(config.internalAuthSecret),
      ),
      registration(
        LocationInternalService,
        { revokePairs: revokePairs(context), revokeAccount: revokeAccount(context) },
        requireService(config.internalAuthSecret),
      ),
      registration(
        LocationAdminService,
        { queueServerMessage: queueServerMessage(context) },
        requireAdmin(config.adminToken),
      ),
    ],
    // Consumers are stopped by bus.drain(), which serve() runs after these.
    workers: [
      projection,
      sweeper,
      releaser,
      ...(pushNotifier ? [pushNotifier] : []),
      { stop: () => connections.close() },
      { stop: () => limitStore.close() },
      { stop: () => context.live.stop() },
    ],
  });
  return {
    port: host.port,
    context,
    metrics: base.metrics,
    projectionReady: projection.done,
    pushNotifier,
    stop: host.stop,
  };
}
