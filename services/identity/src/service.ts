import { IdentityInternalService, IdentityService } from "@seeme/contracts/identity";
import { LocationInternalService } from "@seeme/contracts/location";
import { optionalCaller, requireService, SERVICE_HEADER, signService } from "@seeme/runtime/caller";
import { createGrpcClient, registration } from "@seeme/runtime/grpc";
import type { Logger } from "@seeme/runtime/logger";
import { startOutboxRelay } from "@seeme/runtime/outbox";
import { sessionSigner } from "@seeme/runtime/session-token";
import { LimitStore } from "@seeme/runtime/shared-limits";
import { prismaSchema, serve, startServiceBase } from "@seeme/runtime/service";
import type { IdentityConfig } from "./config.js";
import type { IdentityContext } from "./context.js";
import { createIdentityDb } from "./db/client.js";
import { outboxStore } from "./db/outbox.js";
import { createChallenge } from "./rpc/create-challenge.js";
import { deleteAccount } from "./rpc/delete-account.js";
import { getAccount } from "./rpc/get-account.js";
import { register } from "./rpc/register.js";
import { rotateKey } from "./rpc/rotate-key.js";
import { signIn } from "./rpc/sign-in.js";
import { verifySession } from "./rpc/verify-session.js";
import { verifySignature } from "./rpc/verify-signature.js";
import { startSweeper } from "./sweeper.js";

// biome-ignore lint/suspicious/noRedeclare: the type of a started service, merged with the imported gRPC descriptor of the same name
export interface IdentityService {
  port: number;
  context: IdentityContext;
  stop(): Promise<void>;
}

export async function startIdentityService(
  config: IdentityConfig,
  options: { now?: () => Date; log?: Logger } = {},
): Promise<IdentityService> {
  const now = options.now ?? (() => new Date());
  const base = await startServiceBase({
    name: "identity",
    port: config.port,
    schema: prismaSchema(new URL("../../../prisma/identity/", import.meta.url)),
    common: config,
    databaseUrl: config.databaseUrl,
    createClient: createIdentityDb,
    log: options.log,
  });
  const relay = startOutboxRelay({
    store: outboxStore(base.db, now),
    bus: base.bus,
    log: base.log,
    intervalMs: config.outboxIntervalMs,
  });
  const clockMs = () => now().getTime();
  const limitStore = await LimitStore.open(config.databaseUrl, { log: base.log });
  const location = createGrpcClient(LocationInternalService, config.locationAddr, {
    headers: () => ({ [SERVICE_HEADER]: signService(config.internalAuthSecret, "identity") }),
    defaultTimeoutMs: 5000,
  });
  const context: IdentityContext = {
    config,
    log: base.log,
    db: base.db,
    sessions: await sessionSigner(config.sessionSigningSeed),
    now,
    location,
    publishEvents: () => relay.kick(),
    limits: {
      address: limitStore.limiter("address", config.addressLimit, clockMs),
      account: limitStore.limiter("account", config.accountLimit, clockMs),
    },
  };
  const sweeper = startSweeper(context, config.sweepIntervalMs);

  const host = await serve(base, {
    registrations: [
      // Public: CreateChallenge, Register and SignIn work signed out; the other
      // methods require the caller the gateway signed (callerOf throws otherwise).
      registration(
        IdentityService,
        {
          createChallenge: createChallenge(context),
          register: register(context),
          signIn: signIn(context),
          getAccount: getAccount(context),
          rotateKey: rotateKey(context),
          deleteAccount: deleteAccount(context),
        },
        optionalCaller(config.internalAuthSecret),
      ),
      registration(
        IdentityInternalService,
        {
          verifySession: verifySession(context),
          verifySignature: verifySignature(context),
        },
        requireService(config.internalAuthSecret),
      ),
    ],
    workers: [sweeper, relay, { stop: () => location.close() }, { stop: () => limitStore.close() }],
  });
  return { port: host.port, context, stop: host.stop };
}
