import { fileURLToPath } from "node:url";
import type { PrismaPg } from "@prisma/adapter-pg";
import { ConfigError, type CommonConfig } from "./config.js";
import { DatabaseUrlError, parseDatabaseUrl } from "./db/url.js";
import { checkDatabase, createPrismaAdapter, migrate, type Probeable } from "./db.js";
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
}

/** What every database-backed service starts with: logs, metrics, a migrated database and the event bus. */
export interface ServiceBase<DB extends PrismaLike> {
  name: string;
  common: CommonConfig;
  log: Logger;
  metrics: Metrics;
  db: DB;
  bus: EventBus;
}

/** Migrates the service's schema (unless MIGRATE_ON_START is off), then opens Prisma and NATS (ensuring the JetStream streams). */
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
  if (common.migrateOnStart ?? true) await migrate({ ...options.schema, url: options.databaseUrl, log });
  else log.info("MIGRATE_ON_START is off: not migrating (the deployment's migration Job does)");
  const db = options.createClient(
    createPrismaAdapter(options.databaseUrl, {
      onPoolError: (error) => log.warn({ err: error.message }, "database connection lost"),
    }),
  );
  const bus = await connectEventBus({
    url: common.natsUrl,
    prefix: common.natsPrefix,
    name,
    log,
    replicas: common.natsStreamReplicas,
  });
  await bus.ensureStreams();
  return { name, common, log, metrics: createMetrics(name), db, bus };
}

export interface ServeOptions {
  port: number;
  host?: string;
  registrations: ServiceRegistration[];
  /** Stopped before NATS drains and Prisma disconnects (sweepers, relays, consumers). */
  workers: Array<{ stop(): Promise<void> | void }>;
}

/** Serves the service's RPCs with health following PostgreSQL and NATS, and the standard shutdown order. */
export function serve<DB extends PrismaLike>(base: ServiceBase<DB>, options: ServeOptions): Promise<GrpcHost> {
  return startGrpcHost({
    name: base.name,
    host: options.host ?? base.common.bindHost,
    port: options.port,
    registrations: options.registrations,
    probes: { postgres: () => checkDatabase(base.db), nats: () => base.bus.isConnected() },
    log: base.log,
    metrics: base.metrics,
    metricsPort: base.common.metricsPort,
    healthIntervalMs: base.common.healthIntervalMs,
    shutdownTimeoutMs: base.common.shutdownTimeoutMs,
    cleanup: [
      ...options.workers.map((worker) => () => worker.stop()),
      () => base.bus.drain(),
      () => base.db.$disconnect(),
    ],
  });
}
