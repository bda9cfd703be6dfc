import type { DescService } from "@bufbuild/protobuf";
import type { Client, ConnectRouter } from "@connectrpc/connect";
import { ConnectionInternalService, ConnectionService } from "@seeme/contracts/connection";
import { GatewayService } from "@seeme/contracts/gateway";
import { Health } from "@seeme/contracts/health";
import { IdentityService } from "@seeme/contracts/identity";
import { HeldPacketService, LocationService, PushService } from "@seeme/contracts/location";
import { SERVICE_HEADER, signService } from "@seeme/runtime/caller";
import { createGrpcClient } from "@seeme/runtime/grpc";
import { Admission, admissionMetrics } from "@seeme/runtime/admission";
import { DependencyMonitor } from "@seeme/runtime/health";
import { LiveHub } from "@seeme/runtime/live-hub";
import { createLogger, type Logger } from "@seeme/runtime/logger";
import { createMetrics, startMetricsServer } from "@seeme/runtime/metrics";
import { connectEventBus, type EventBus } from "@seeme/runtime/nats";
import { retryUntilReachable } from "@seeme/runtime/startup";
import { tracingInterceptor } from "@seeme/runtime/tracing";
import { metricsInterceptor } from "./metrics-interceptor.js";
import { admissionGate } from "./admission-gate.js";
import type { GatewayConfig } from "./config.js";
import type { GatewayContext } from "./context.js";
import { createConnectHandler } from "./connect-handler.js";
import { forwardService } from "./forward.js";
import { H2Pool } from "./h2-pool.js";
import { HeldStreams } from "./held-streams.js";
import { createRelay } from "./relay.js";
import { opaqueService } from "./opaque.js";
import { sessionGate, type SessionPolicy } from "./gate.js";
import { createHttpHandler } from "./http.js";
import { createStaticHandler } from "./static.js";
import { listenHttp } from "./listener.js";
import { getServerInfo, inviteKeySource } from "./rpc/get-server-info.js";
import { healthService } from "./rpc/health.js";
import { PublicStreams } from "./public-streams.js";
import { followRevocations } from "./revocations.js";
import { publicVerifyKey, SessionTokenVerifier } from "@seeme/runtime/session-token";
import { SessionVerifier } from "./sessions.js";

export interface GatewayHandle {
  port: number;
  context: GatewayContext;
  /** Bounds the unary calls worked on at once (ADMISSION_* settings). */
  admission: Admission;
  /** The hub of the Subscribe streams this gateway holds (relay.ts); none before NATS is reached, or with GATEWAY_RAW_RELAY off. */
  live(): LiveHub | undefined;
  stop(): Promise<void>;
}

// Per packet: pairID, packetID and protobuf framing; per request: everything else (acks, headers).
const PACKET_OVERHEAD_BYTES = 64;
const REQUEST_SLACK_BYTES = 256 * 1024;
// Replaying an hour of identity events takes milliseconds; a stall is a fault worth failing start-up for.
const REPLAY_TIMEOUT_MS = 30_000;

const LOCATION_OPAQUE = opaqueService(LocationService, ["sync", "subscribe"]);

const PUBLIC_SERVICES = [
  GatewayService,
  IdentityService,
  ConnectionService,
  LocationService,
  PushService,
  HeldPacketService,
];

/** Starts the public gateway: Connect, gRPC and gRPC-web on one port, plus /healthz and metrics. */
export async function startGatewayService(
  config: GatewayConfig,
  options: { log?: Logger; now?: () => Date } = {},
): Promise<GatewayHandle> {
  // Injectable so tests can move past a token's expiry without sleeping.
  const nowMs = options.now ? () => options.now!().getTime() : Date.now;
  const log = options.log ?? createLogger("gateway", config.logLevel);
  const serviceHeaders = () => ({ [SERVICE_HEADER]: signService(config.internalAuthSecret, "gateway") });
  const clients = {
    identity: createGrpcClient(IdentityService, config.identityAddr),
    connection: createGrpcClient(ConnectionService, config.connectionAddr),
    location: createGrpcClient(LocationService, config.locationAddr),
    // The hot path: Sync and Subscribe bytes pass through undecoded (opaque.ts, docs/hot-path.md).
    locationOpaque: createGrpcClient(LOCATION_OPAQUE, config.locationAddr),
    push: createGrpcClient(PushService, config.locationAddr),
    heldPackets: createGrpcClient(HeldPacketService, config.locationAddr),
    connectionInternal: createGrpcClient(ConnectionInternalService, config.connectionAddr, { headers: serviceHeaders }),
  };
  const upstreamHealth = Object.entries({
    identity: config.identityAddr,
    connection: config.connectionAddr,
    location: config.locationAddr,
  }).map(([name, address]) => [name, createGrpcClient(Health, address, { defaultTimeoutMs: 1000 })] as const);
  const monitor = new DependencyMonitor(
    Object.fromEntries(
      upstreamHealth.map(([name, client]) => [name, async () => (await client.check({})).status === 1]),
    ),
    config.healthIntervalMs,
    log,
  );
  monitor.onChange((serving) => log.info({ serving }, serving ? "SERVING" : "NOT_SERVING"));
  const tokens = new SessionTokenVerifier(await Promise.all(config.sessionVerifyKeys.map(publicVerifyKey)), nowMs);
  // Refuses every token (Unavailable) until the revocations are replayed: see the end of start-up.
  const sessions = new SessionVerifier(tokens, nowMs);
  // NOT_SERVING until NATS (session revocations) is reached and replayed: see the end of start-up.
  const starting = monitor.hold("starting");
  const context: GatewayContext = {
    config,
    log,
    monitor,
    sessions,
    publicStreams: new PublicStreams(config.publicStreamsPerConnection, config.publicStreamsPerAddress),
    upstream: {
      identity: clients.identity,
      connection: clients.connection,
      location: clients.location,
      push: clients.push,
    },
  };

  const inviteKey = inviteKeySource(clients.connectionInternal, log);
  const shutdown = new AbortController();
  const metrics = createMetrics("gateway");
  const admission = new Admission(config.admission);
  admissionMetrics(admission, metrics.registry);
  // Only Sync carries packets: its cap is the largest valid Sync; every other
  // body is a few identifiers and keys, so a 2 MB body there is abuse, not use.
  const syncMaxBytes = config.maxPacketsPerSync * (config.maxBlobBytes + PACKET_OVERHEAD_BYTES) + REQUEST_SLACK_BYTES;
  const policies = new Map<string, SessionPolicy>([
    [GatewayService.typeName, "none"],
    [Health.typeName, "none"],
    [IdentityService.typeName, "optional"],
    [ConnectionService.typeName, "required"],
    [LocationService.typeName, "required"],
    [PushService.typeName, "required"],
    [HeldPacketService.typeName, "required"],
  ]);
  // Set once NATS is reached (below); until then sessions are refused anyway.
  let live: LiveHub | undefined;
  // With the raw relay on, every Subscribe stream is held here, pushed from this gateway's live hub:
  // over HTTP/2 the relay takes it, otherwise the Connect server (held-streams.ts, docs/hot-path.md).
  const held = config.rawRelay
    ? new HeldStreams(context, config.subscribeMaxStreamsPerAccount, () => live, shutdown.signal)
    : undefined;
  // Every method of `service` (the real LocationService, or its opaque copy) forwarded to location
  // (Subscribe held here, when it is); Sync's cap fits packets.
  const addLocation = (router: ConnectRouter, service: DescService, upstream: Client<DescService>) => {
    const impl = forwardService(service, upstream, context, "required") as Record<string, never>;
    for (const method of service.methods) {
      if (method.name === "Subscribe" && held) continue;
      router.rpc(method, impl[method.localName], method.name === "Sync" ? { readMaxBytes: syncMaxBytes } : {});
    }
  };
  const connect = createConnectHandler({
    log,
    readMaxBytes: config.maxRequestBytes,
    shutdownSignal: shutdown.signal,
    interceptors: [tracingInterceptor(), metricsInterceptor(metrics)],
    requestGate: admissionGate(admission, sessionGate(context, policies)),
    opaqueRoutes: config.forwardUndecoded
      ? (router) => addLocation(router, LOCATION_OPAQUE, clients.locationOpaque)
      : undefined,
    routes(router) {
      router.service(GatewayService, { getServerInfo: () => getServerInfo(context, inviteKey) });
      router.service(IdentityService, forwardService(IdentityService, context.upstream.identity, context, "optional"));
      router.service(
        ConnectionService,
        forwardService(ConnectionService, context.upstream.connection, context, "required"),
      );
      addLocation(router, LocationService, context.upstream.location);
      if (held) router.rpc(LocationService.method.subscribe, (request, ctx) => held.subscribe(request, ctx));
      router.service(PushService, forwardService(PushService, context.upstream.push, context, "required", true));
      router.service(HeldPacketService, forwardService(HeldPacketService, clients.heldPackets, context, "required"));
      router.service(
        Health,
        healthService(
          context,
          PUBLIC_SERVICES.map((service) => service.typeName),
        ),
      );
    },
  });
  const unhealthy = () =>
    monitor.isServing
      ? []
      : monitor.failing.size || monitor.holds.size
        ? [...monitor.failing, ...monitor.holds]
        : ["stopping"];
  // The hot path: gRPC Syncs go to location as raw HTTP/2 streams, and Subscribes over HTTP/2 (and
  // binary Connect ones over HTTP/1.1) are held here, pushed from this gateway's live hub without
  // the Connect server (relay.ts, docs/hot-path.md).
  const locationPool = config.rawRelay ? new H2Pool(config.locationAddr, { log }) : undefined;
  await locationPool?.ready();
  const relay =
    locationPool && held
      ? createRelay({
          context,
          admission,
          pool: locationPool,
          metrics,
          syncMaxBytes,
          shutdownSignal: shutdown.signal,
          held,
        })
      : undefined;
  const handler = createHttpHandler({
    connect,
    corsOrigins: config.corsOrigins,
    unhealthy,
    alive: () => !shutdown.signal.aborted,
    trustedProxyHops: config.trustedProxyHops,
    web: createStaticHandler({
      root: config.webRoot,
      tileUrl: config.tileUrl,
      tileAttribution: config.tileAttribution,
    }),
    bodyTimeoutMs: config.bodyTimeoutMs,
    relay: relay?.handleHttp,
  });
  const listener = await listenHttp(handler, config.port, config.host, config.idleTimeoutMs, {
    h2Stream: relay?.handle,
    h2MaxConcurrentStreams: config.h2MaxConcurrentStreams,
    keepaliveMs: config.keepaliveMs,
    keepaliveTimeoutMs: config.keepaliveTimeoutMs,
  });
  const metricsServer =
    config.metricsPort === undefined
      ? undefined
      : await startMetricsServer(metrics.registry, config.metricsPort, config.bindHost);
  await monitor.start();
  log.info({ port: listener.port, metricsPort: metricsServer?.port }, "gateway listening");
  // Listening (health answers NOT_SERVING) while NATS is waited for: started
  // before NATS, the gateway waits instead of exiting.
  let bus: EventBus;
  try {
    bus = await retryUntilReachable(
      "NATS",
      // Replicas as configured for every service: the gateway may be the first to create the IDENTITY stream.
      () =>
        connectEventBus({
          url: config.natsUrl,
          prefix: config.natsPrefix,
          name: "gateway",
          log,
          replicas: config.natsStreamReplicas,
        }),
      { log, signal: shutdown.signal },
    );
  } catch (error) {
    monitor.stop();
    await listener.close(0);
    locationPool?.close();
    await metricsServer?.close();
    for (const client of [...Object.values(clients), ...upstreamHealth.map(([, client]) => client)]) client.close();
    throw error;
  }
  if (relay) live = new LiveHub(bus, log, config.subscribePollMs);
  const revocations = await followRevocations(bus, sessions, log, nowMs);
  // No token is accepted before every revocation it could be subject to is known.
  let replayTimer: NodeJS.Timeout | undefined;
  await Promise.race([
    revocations.caughtUp,
    new Promise((_, reject) => {
      replayTimer = setTimeout(() => reject(new Error("revocations not replayed within 30 s")), REPLAY_TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(replayTimer));
  sessions.open();
  starting();

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      log.info("shutting down");
      monitor.stop();
      shutdown.abort();
      await listener.close(config.shutdownTimeoutMs);
      locationPool?.close();
      live?.stop();
      await revocations.stop();
      await bus.drain();
      for (const client of [...Object.values(clients), ...upstreamHealth.map(([, client]) => client)]) client.close();
      await metricsServer?.close();
      log.info("stopped");
    })());
  return { port: listener.port, context, admission, live: () => live, stop };
}
