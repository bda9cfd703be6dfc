import { fileURLToPath } from "node:url";
import type { PrismaPg } from "@prisma/adapter-pg";
import { ConfigError, type CommonConfig } from "./config.js";
import { DatabaseUrlError, parseDatabaseUrl } from "./db/url.js";
import {
  checkDatabase,
  migrate,
  openDatabase,
  type DirectDatabase,
  type Probeable,
  type ServiceDatabase,
} from "./db.js";
import { retryUntilReachable } from "./startup.js";
import { startGrpcHost, type GrpcHost } from "./host.js";
import type { ServiceRegistration } from "./grpc.js";
import { createLogger, type Logger } from "./logger.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { connectEventBus, type EventBus } from "./nats.js";

/** Where a service's Prisma schema and its migrations live. */
export interface SchemaPaths {
  schemaPath: string;
  migrationsDir: string;
}

/** `folder/schema.prisma` and `folder/migrations/`, the layout of prisma/<service>/ (a URL relative to the caller's module). */
export function prismaSchema(folder: URL): SchemaPaths {
  return {
    schemaPath: fileURLToPath(new URL("schema.prisma", folder)),
    migrationsDir: fileURLToPath(new URL("migrations/", folder)),
  };
}

export type PrismaLike = Probeable & { $disconnect(): Promise<void> };

export interface ServiceBaseOptions<DB extends PrismaLike> {
  name: string;
  common: CommonConfig;
  /** The service's own schema and migrations, applied at start when MIGRATE_ON_START is on. */
  schema: SchemaPaths;
  databaseUrl: string;
  createClient: (adapter: PrismaPg) => DB;
  log?: Logger;
  /** The gRPC port: bound first, so health answers NOT_SERVING while start-up waits for PostgreSQL and NATS. */
  port: number;
}

/** What every database-backed service starts with: logs, metrics, a migrated database and the event bus. */
export interface ServiceBase<DB extends PrismaLike> {
  name: string;
  common: CommonConfig;
  log: Logger;
  metrics: Metrics;
  db: DB;
  /** Direct statements on the pool Prisma runs on, for hot paths (db/direct.ts). */
  sql: DirectDatabase;
  bus: EventBus;
  /** The running server: health only, until `serve` adds the service's RPCs. */
  host: GrpcHost;
}

/**
 * Binds the gRPC port with health NOT_SERVING, then waits (with backoff, one
 * log line per retry) until PostgreSQL and NATS answer: migrates the schema
 * (unless MIGRATE_ON_START is off), opens Prisma and NATS and ensures the
 * JetStream streams. A dependency that is down at start-up is waited for, not
 * a reason to exit; health turns SERVING in `serve`.
 */
export async function startServiceBase<DB extends PrismaLike>(
  options: ServiceBaseOptions<DB>,
): Promise<ServiceBase<DB>> {
  const { name, common } = options;
  const log = options.log ?? createLogger(name, common.logLevel);
  try {
    parseDatabaseUrl(options.databaseUrl);
  } catch (error) {
    // A bad URL is a configuration error: one line naming the variable, exit 78 (runMain).
    if (error instanceof DatabaseUrlError) throw new ConfigError(`${name.toUpperCase()}_DATABASE_URL`, error.message);
    throw error;
  }
  const metrics = createMetrics(name);
  let database: ServiceDatabase | undefined;
  let db: DB | undefined;
  let bus: EventBus | undefined;
  const host = await startGrpcHost({
    name,
    host: common.bindHost,
    port: options.port,
    registrations: [],
    // Until connected, the "starting" hold keeps health NOT_SERVING (and the retries log why).
    probes: { postgres: () => (db ? checkDatabase(db) : true), nats: () => bus?.isConnected() ?? true },
    holds: [STARTING],
    admission: common.admission,
    log,
    metrics,
    metricsPort: common.metricsPort,
    healthIntervalMs: common.healthIntervalMs,
    shutdownTimeoutMs: common.shutdownTimeoutMs,
    cleanup: [() => bus?.drain(), () => db?.$disconnect(), () => database?.end()],
  });
  try {
    if (common.migrateOnStart ?? true) {
      await retryUntilReachable("PostgreSQL", () => migrate({ ...options.schema, url: options.databaseUrl, log }), {
        log,
      });
    } else log.info("MIGRATE_ON_START is off: not migrating (the deployment's migration Job does)");
    database = openDatabase(options.databaseUrl, {
      onPoolError: (error) => log.warn({ err: error.message }, "database connection lost"),
    });
    db = options.createClient(database.adapter);
    const client = db;
    // Without migrating, nothing has reached the database yet: wait for it here.
    await retryUntilReachable(
      "PostgreSQL",
      async () => ("$queryRawUnsafe" in client ? client.$queryRawUnsafe("SELECT 1") : client.query("SELECT 1")),
      { log },
    );
    bus = await retryUntilReachable(
      "NATS",
      async () => {
        const connected = await connectEventBus({
          url: common.natsUrl,
          prefix: common.natsPrefix,
          name,
          log,
          replicas: common.natsStreamReplicas,
        });
        // A NATS just started may answer before JetStream is ready (503): retried as well.
        await connected.ensureStreams().catch(async (error: unknown) => {
          await connected.drain().catch(() => undefined);
          throw error;
        });
        return connected;
      },
      { log },
    );
  } catch (error) {
    await host.stop();
    throw error;
  }
  return { name, common, log, metrics, db, sql: database.sql, bus, host };
}

const STARTING = "starting";

export interface ServeOptions {
  registrations: ServiceRegistration[];
  /** Stopped before NATS drains and Prisma disconnects (sweepers, relays, consumers). */
  workers: Array<{ stop(): Promise<void> | void }>;
  /** Health stays NOT_SERVING until this resolves (e.g. the location route projection has caught up). */
  ready?: Promise<void>;
}

/** Serves the service's RPCs on the host started by `startServiceBase`; health follows PostgreSQL and NATS from now on. */
export function serve<DB extends PrismaLike>(base: ServiceBase<DB>, options: ServeOptions): Promise<GrpcHost> {
  const { host } = base;
  host.addServices(options.registrations);
  host.addCleanup(...options.workers.map((worker) => () => worker.stop()));
  if (options.ready) {
    const release = host.monitor.hold("catching up");
    options.ready.then(release, (error: unknown) => base.log.error({ err: error }, "start-up catch-up failed"));
  }
  host.holds.get(STARTING)?.();
  return Promise.resolve(host);
}
