import { randomBytes } from "node:crypto";
import webpush from "web-push";
import type { Logger } from "@seeme/runtime/logger";
import { createLogger } from "@seeme/runtime/logger";
import { createTestDatabase, type TestDatabase } from "./database.js";
import { createTestBus } from "./nats.js";
import { freePort } from "./ports.js";

/**
 * The whole see-me system in this process, on free ports, with a fresh
 * PostgreSQL schema per service and a fresh NATS prefix: what a suite needs to
 * test through the real gateway. The testkit imports no service (services'
 * tests import the testkit): the caller passes how to start each one, as
 * test/stack.ts does for the real services.
 */
export interface StackOptions {
  /** How to start each service from the stack's environment. */
  services: StackServices;
  /** Extra environment for every service (e.g. INVITE_TTL). */
  env?: Record<string, string>;
  /** Clock for the services (expiry tests advance it instead of sleeping). */
  now?: () => Date;
  log?: Logger;
  /** Rewrites the services' database URLs, e.g. to go through a TcpProxy. */
  databaseUrl?: (url: string) => string;
  /** NATS URL the services use (default: the test bus URL), e.g. a TcpProxy. */
  natsUrl?: string;
}

export type ServiceName = "identity" | "connection" | "location" | "gateway";
export interface RunningService {
  port: number;
  stop(): Promise<void>;
}

/** What a starter gets: the stack's clock (for the services that take one) and a logger named after the service. */
export interface StackServiceOptions {
  now?: () => Date;
  log: Logger;
}

/** Starts one service from the stack's environment (its loadConfig(env) and start function). */
export type StackServiceStarter = (
  env: Record<string, string>,
  options: StackServiceOptions,
) => Promise<RunningService>;
export type StackServices = Record<ServiceName, StackServiceStarter>;

export interface Stack {
  gatewayUrl: string;
  natsUrl: string;
  natsPrefix: string;
  adminToken: string;
  internalAuthSecret: string;
  /** host:port of each service. */
  address(name: ServiceName): string;
  /** Service database URLs, for asserting on what is stored. */
  databaseUrls: { identity: string; connection: string; location: string };
  /** Stops one service (e.g. to test restarts); `start` brings it back on the same port. */
  stopService(name: ServiceName): Promise<void>;
  startService(name: ServiceName): Promise<void>;
  stop(): Promise<void>;
}

export type DatabaseName = "identity" | "connection" | "location";

/** What one stack owns: a schema per service, a NATS prefix, fresh secrets. */
export interface StackResources {
  databases: Record<DatabaseName, TestDatabase>;
  natsUrl: string;
  natsPrefix: string;
  /** Environment every service of the stack shares (databases, NATS, secrets). */
  env: Record<string, string>;
  /** Drops the schemas and the prefix's streams. */
  release(): Promise<void>;
}

/** Fresh schemas, NATS prefix and secrets for a stack, whether in-process (startStack) or in child processes (bench). */
export async function createStackResources(label: string): Promise<StackResources> {
  const bus = createTestBus(label);
  const vapid = webpush.generateVAPIDKeys();
  const databases: Record<DatabaseName, TestDatabase> = {
    identity: await createTestDatabase(`${label}_identity`),
    connection: await createTestDatabase(`${label}_connection`),
    location: await createTestDatabase(`${label}_location`),
  };
  return {
    databases,
    natsUrl: bus.url,
    natsPrefix: bus.prefix,
    env: {
      NATS_URL: bus.url,
      NATS_SUBJECT_PREFIX: bus.prefix,
      INTERNAL_AUTH_SECRET: randomBytes(32).toString("base64url"),
      ADMIN_TOKEN: randomBytes(32).toString("base64url"),
      SERVER_SIGNING_KEY: randomBytes(32).toString("base64"),
      VAPID_PUBLIC_KEY: vapid.publicKey,
      VAPID_PRIVATE_KEY: vapid.privateKey,
      VAPID_SUBJECT: "mailto:ops@see-me.test",
      METRICS_PORT: "0",
      GATEWAY_HOST: "127.0.0.1",
      IDENTITY_DATABASE_URL: databases.identity.url,
      CONNECTION_DATABASE_URL: databases.connection.url,
      LOCATION_DATABASE_URL: databases.location.url,
    },
    async release() {
      await Promise.all(Object.values(databases).map((database) => database.drop()));
      await bus.cleanup();
    },
  };
}

export async function startStack(label: string, options: StackOptions): Promise<Stack> {
  const resources = await createStackResources(label);
  const { databases } = resources;
  const serviceUrl = options.databaseUrl ?? ((url: string) => url);
  const log = options.log ?? createLogger(label, process.env.TEST_LOG_LEVEL ?? "silent");
  const env: Record<string, string> = {
    ...resources.env,
    NATS_URL: options.natsUrl ?? resources.natsUrl,
    HEALTH_INTERVAL_MS: "200",
    SHUTDOWN_TIMEOUT_MS: "2000",
    IDENTITY_PORT: "0",
    CONNECTION_PORT: "0",
    LOCATION_PORT: "0",
    GATEWAY_PORT: "0",
    IDENTITY_DATABASE_URL: serviceUrl(databases.identity.url),
    CONNECTION_DATABASE_URL: serviceUrl(databases.connection.url),
    LOCATION_DATABASE_URL: serviceUrl(databases.location.url),
    // Every test client calls from 127.0.0.1: per-address limits sized for
    // many devices behind one address; suites that test limits lower them.
    IDENTITY_RATE_LIMIT_ADDRESS_BURST: "10000",
    IDENTITY_RATE_LIMIT_ADDRESS_PER_MINUTE: "10000",
    // Suites fire bursts of hundreds of calls on a shared, slow machine: admission
    // control would rightly shed some. Its own suites (admission.test.ts) set it.
    ADMISSION_MAX_IN_FLIGHT: "10000",
    ADMISSION_MIN_IN_FLIGHT: "10000",
    ...options.env,
  };
  const running = new Map<ServiceName, RunningService>();
  const start = async (name: ServiceName) => {
    const service = await options.services[name](env, { now: options.now, log: log.child({ service: name }) });
    running.set(name, service);
    // Later starts (restarts) reuse the port so callers reconnect to the same address.
    env[`${name.toUpperCase()}_PORT`] = String(service.port);
    if (name !== "gateway") env[`${name.toUpperCase()}_ADDR`] = `127.0.0.1:${service.port}`;
  };
  const stopService = async (name: ServiceName) => {
    await running.get(name)?.stop();
    running.delete(name);
  };

  // Identity and connection call location's internal API (a break or deletion
  // is applied at the relay before they answer) but start before it: its port
  // is chosen now so their LOCATION_ADDR is right from the start.
  if (env.LOCATION_PORT === "0") env.LOCATION_PORT = String(await freePort());
  env.LOCATION_ADDR ??= `127.0.0.1:${env.LOCATION_PORT}`;
  try {
    for (const name of ["identity", "connection", "location", "gateway"] as const) await start(name);
  } catch (error) {
    for (const name of [...running.keys()].reverse()) await stopService(name);
    await resources.release();
    throw error;
  }

  return {
    gatewayUrl: `http://127.0.0.1:${env.GATEWAY_PORT}`,
    natsUrl: resources.natsUrl,
    natsPrefix: resources.natsPrefix,
    adminToken: env.ADMIN_TOKEN,
    internalAuthSecret: env.INTERNAL_AUTH_SECRET,
    address: (name) => `127.0.0.1:${env[`${name.toUpperCase()}_PORT`]}`,
    databaseUrls: {
      identity: databases.identity.url,
      connection: databases.connection.url,
      location: databases.location.url,
    },
    stopService,
    startService: start,
    async stop() {
      for (const name of ["gateway", "location", "connection", "identity"] as const) await stopService(name);
      await resources.release();
    },
  };
}
