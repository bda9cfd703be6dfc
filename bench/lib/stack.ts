import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { closeSync, openSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { allocatorEnv } from "@seeme/runtime/allocator";
import { checkHealth, waitFor } from "@seeme/testkit/health";
import { createStackResources } from "@seeme/testkit/stack";
import { startStack } from "../../test/stack.js";
import { freePort } from "@seeme/testkit/ports";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export type ServiceName = "identity" | "connection" | "location" | "gateway";

/**
 * A service's entry point as it ships (the Dockerfile's `node services/<name>/dist/main.js`):
 * compiled by `npm run build`, which the bench scripts run first. Running the sources through
 * tsx instead would measure tsx too: its `__name` wrapper runs each time a named closure is
 * created (0.33 KiB of the gateway's heap per held stream, and CPU on every call).
 */
export const serviceEntry = (name: ServiceName): string => `${ROOT}services/${name}/dist/main.js`;
const SERVICE_NAMES: ServiceName[] = ["identity", "connection", "location", "gateway"];

/**
 * Marks a service's database URL with the application_name its PostgreSQL
 * connections report (`<prefix>_<service>`), so the bench can count exactly
 * this stack's backends (pg_stat_activity; see lib/cpu.ts).
 */
export function withApplicationName(url: string, prefix: string, service: string): string {
  const marked = new URL(url);
  marked.searchParams.set("application_name", `${prefix}_${service}`);
  // BENCH_DATABASE_URL_PARAMS (e.g. `pgbouncer=true`: unnamed statements) compares a variant in the same harness.
  for (const [name, value] of new URLSearchParams(process.env.BENCH_DATABASE_URL_PARAMS ?? ""))
    marked.searchParams.set(name, value);
  return marked.toString();
}

/** What the scenarios need from a running see-me, however it runs. */
export interface BenchStack {
  mode: "processes" | "in-process";
  /** application_name prefix of the services' PostgreSQL connections. */
  postgresApplication: string;
  gatewayUrl: string;
  address(name: ServiceName): string;
  databaseUrls: { identity: string; connection: string; location: string };
  /** Environment the services run with (to start one more in-process, e.g. the sweeper). */
  env: Record<string, string>;
  /** Process id per service; all the same (ours) in-process. */
  pid(name: ServiceName): number;
  /**
   * Restarts every service with extra node flags (processes only), e.g.
   * `--cpu-prof`; a profile is written when the next restart or stop() ends it.
   */
  restart?(nodeFlags: string[]): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Limits meant to stop abuse by one device would stop the load generator, which
 * is many devices behind one address: raised for the benchmark, and only these.
 */
const UNLIMITED: Record<string, string> = {
  SENDER_PACKET_BURST: "1000000",
  SENDER_PACKETS_PER_SECOND: "1000000",
  RECIPIENT_PACKET_BURST: "1000000",
  RECIPIENT_PACKETS_PER_SECOND: "1000000",
  IDENTITY_RATE_LIMIT_ADDRESS_BURST: "1000000",
  IDENTITY_RATE_LIMIT_ADDRESS_PER_MINUTE: "1000000",
  IDENTITY_RATE_LIMIT_ACCOUNT_BURST: "1000000",
  IDENTITY_RATE_LIMIT_ACCOUNT_PER_MINUTE: "1000000",
  INITIATE_BURST: "1000000",
  INITIATE_PER_MINUTE: "1000000",
  SUBSCRIBE_MAX_STREAMS_PER_ACCOUNT: "1000",
};

/**
 * The four services as separate Node processes (as deployed), each on its own
 * event loop, so the load generator in this process does not steal their time
 * slices more than the OS scheduler does. Fresh schemas and NATS prefix, dropped
 * by stop().
 */
export async function startProcessStack(
  label: string,
  options: {
    logDir: string;
    env?: Record<string, string>;
    /** Node flags for every service process, e.g. `--inspect-port=<port>` (see lib/inspector.ts). */
    nodeFlags?: string[];
    /** false: the per-device abuse limits as deployed (the fuzz), not raised for a load generator. */
    raiseLimits?: boolean;
  },
): Promise<BenchStack> {
  const resources = await createStackResources(label);
  const { databases } = resources;
  const postgresApplication = `seeme_${label}_${randomBytes(4).toString("hex")}`;
  const ports = Object.fromEntries(
    await Promise.all(SERVICE_NAMES.map(async (name) => [name, await freePort()] as const)),
  ) as Record<ServiceName, number>;
  const env: Record<string, string> = {
    ...resources.env,
    ...allocatorEnv(),
    LOG_LEVEL: "warn",
    SHUTDOWN_TIMEOUT_MS: "3000",
    ...Object.fromEntries(SERVICE_NAMES.map((name) => [`${name.toUpperCase()}_PORT`, String(ports[name])])),
    ...Object.fromEntries(
      SERVICE_NAMES.filter((name) => name !== "gateway").map((name) => [
        `${name.toUpperCase()}_ADDR`,
        `127.0.0.1:${ports[name]}`,
      ]),
    ),
    ...(options.raiseLimits === false ? {} : UNLIMITED),
    ...options.env,
  };
  for (const name of ["identity", "connection", "location"]) {
    const key = `${name.toUpperCase()}_DATABASE_URL`;
    env[key] = withApplicationName(env[key], postgresApplication, name);
  }
  const address = (name: ServiceName) => `127.0.0.1:${ports[name]}`;
  let children = new Map<ServiceName, ChildProcess>();
  const errors: string[] = [];

  const spawnAll = async (nodeFlags: string[]) => {
    const started = new Map<ServiceName, ChildProcess>();
    // Dependencies first: each service's migrations and health must not race the others' startup for the 2 cores.
    for (const name of SERVICE_NAMES) {
      // Service logs (warnings and errors only) go to a file per service and run.
      const logFile = openSync(`${options.logDir}/${name}.log`, "a");
      const child = spawn(process.execPath, [...nodeFlags, serviceEntry(name)], {
        cwd: ROOT,
        env: { ...process.env, ...env },
        stdio: ["ignore", logFile, "pipe"],
      });
      closeSync(logFile);
      child.stderr!.on("data", (chunk: Buffer) => {
        const text = chunk.toString();
        if (!/SIGTERM received|stopping/.test(text)) errors.push(`${name}: ${text.trim()}`);
      });
      started.set(name, child);
      const ready = await waitFor(
        async () => {
          if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}: ${errors.join("\n")}`);
          return (await checkHealth(address(name))) === "SERVING";
        },
        60_000,
        100,
      );
      if (!ready) throw new Error(`${name} did not report SERVING within 60 s: ${errors.join("\n")}`);
    }
    children = started;
  };
  const stopAll = async () => {
    for (const name of [...SERVICE_NAMES].reverse()) {
      const child = children.get(name);
      if (!child || child.exitCode !== null) continue;
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    }
    children.clear();
  };
  const cleanup = () => resources.release();

  try {
    await spawnAll(options.nodeFlags ?? []);
  } catch (error) {
    await stopAll();
    await cleanup();
    throw error;
  }
  return {
    mode: "processes",
    postgresApplication,
    gatewayUrl: `http://127.0.0.1:${ports.gateway}`,
    address,
    databaseUrls: {
      identity: databases.identity.url,
      connection: databases.connection.url,
      location: databases.location.url,
    },
    env,
    pid: (name) => children.get(name)?.pid ?? 0,
    async restart(nodeFlags) {
      await stopAll();
      await spawnAll(nodeFlags);
    },
    async stop() {
      await stopAll();
      await cleanup();
    },
  };
}

/** The same services in this process (testkit's stack): quick to start, for the smoke test. */
export async function startInProcessStack(label: string): Promise<BenchStack> {
  const postgresApplication = `seeme_${label}_${randomBytes(4).toString("hex")}`;
  const stack = await startStack(label, {
    env: { ...UNLIMITED },
    databaseUrl: (url) => withApplicationName(url, postgresApplication, new URL(url).searchParams.get("schema")!),
  });
  return {
    mode: "in-process",
    postgresApplication,
    gatewayUrl: stack.gatewayUrl,
    address: stack.address,
    databaseUrls: stack.databaseUrls,
    env: {
      NATS_URL: stack.natsUrl,
      NATS_SUBJECT_PREFIX: stack.natsPrefix,
      INTERNAL_AUTH_SECRET: stack.internalAuthSecret,
      ADMIN_TOKEN: stack.adminToken,
      LOCATION_DATABASE_URL: stack.databaseUrls.location,
      CONNECTION_ADDR: stack.address("connection"),
      ...UNLIMITED,
    },
    pid: () => process.pid,
    stop: stack.stop,
  };
}
