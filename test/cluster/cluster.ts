import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { checkHealth, waitFor } from "@seeme/testkit/health";
import { createStackResources, type StackResources } from "@seeme/testkit/stack";

/**
 * The multi-replica system as processes: a 3-node NATS JetStream cluster
 * (nats-server with routes on loopback), 2 × identity, connection, location and
 * gateway from dist/, one PostgreSQL (a schema per service, shared by replicas).
 * Ports come from the 31000-31499 range given to this suite.
 */
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const NATS_SERVER = process.env.NATS_SERVER_BIN ?? "/usr/sbin/nats-server";
const BASE = Number(process.env.CLUSTER_PORT_BASE ?? 31000);

export type Service = "identity" | "connection" | "location" | "gateway";
const REPLICAS = [0, 1] as const;
const SERVICES: Service[] = ["identity", "connection", "location", "gateway"];
const SERVICE_OFFSET: Record<Service, number> = { identity: 100, connection: 110, location: 120, gateway: 130 };

const natsPort = (node: number) => BASE + 1 + node;
export const servicePort = (service: Service, replica: number) => BASE + SERVICE_OFFSET[service] + replica;

export interface Cluster {
  resources: StackResources;
  env: Record<string, string>;
  gatewayUrl(replica: number): string;
  /** kill -9 of a NATS node (0-2). */
  killNats(node: number): void;
  startNats(node: number): Promise<void>;
  kill(service: Service, replica: number): void;
  start(service: Service, replica: number): Promise<void>;
  /** Resolves when `service` replica answers SERVING. */
  serving(service: Service, replica: number, timeoutMs?: number): Promise<boolean>;
  stop(): Promise<void>;
}

/** Resolves once every live node names the same JetStream meta leader (streams can be created). */
async function natsQuorum(nodes = [0, 1, 2], timeoutMs = 30_000): Promise<number> {
  const since = Date.now();
  const ok = await waitFor(
    async () => {
      const leaders = await Promise.all(
        nodes.map(async (node) => {
          try {
            const jsz = (await (await fetch(`http://127.0.0.1:${BASE + 21 + node}/jsz`)).json()) as {
              meta_cluster?: { leader?: string };
            };
            return jsz.meta_cluster?.leader ?? "";
          } catch {
            return "";
          }
        }),
      );
      return leaders[0] !== "" && leaders.every((leader) => leader === leaders[0]);
    },
    timeoutMs,
    100,
  );
  if (!ok) throw new Error("JetStream meta leader not elected");
  return Date.now() - since;
}

export interface ClusterOptions {
  /**
   * "own" (default): gateway N calls identity/connection/location replica N, so a
   * test knows which replica served a device. "all": every caller round-robins over
   * both replicas of each service (grpc-js `ipv4:` lists), as through headless Services.
   */
  routing?: "own" | "all";
  env?: Record<string, string>;
}

const everyReplica = (service: Service) =>
  `ipv4:${REPLICAS.map((r) => `127.0.0.1:${servicePort(service, r)}`).join(",")}`;

export async function startCluster(label: string, options: ClusterOptions = {}): Promise<Cluster> {
  const extraEnv = options.env ?? {};
  const dataDir = mkdtempSync(join(tmpdir(), "seeme-cluster-"));
  const nats = new Map<number, ChildProcess>();
  const services = new Map<string, ChildProcess>();
  const errors: string[] = [];

  const startNats = async (node: number) => {
    const routes = [0, 1, 2]
      .filter((n) => n !== node)
      .map((n) => `nats://127.0.0.1:${BASE + 11 + n}`)
      .join(",");
    const child = spawn(
      NATS_SERVER,
      [
        "-a",
        "127.0.0.1",
        "-p",
        String(natsPort(node)),
        "-n",
        `seeme-${node}`,
        "-js",
        "-sd",
        join(dataDir, `nats-${node}`),
        "--cluster_name",
        "seeme-test",
        "-cluster",
        `nats://127.0.0.1:${BASE + 11 + node}`,
        "-routes",
        routes,
        "-m",
        String(BASE + 21 + node),
      ],
      { stdio: "ignore" },
    );
    nats.set(node, child);
    const ready = await waitFor(
      async () => {
        try {
          return (await fetch(`http://127.0.0.1:${BASE + 21 + node}/healthz`)).ok;
        } catch {
          return false;
        }
      },
      30_000,
      100,
    );
    if (!ready) throw new Error(`nats node ${node} not healthy`);
  };

  await Promise.all([0, 1, 2].map((node) => startNats(node)));
  await natsQuorum();
  const resources = await createStackResources(label);
  const env: Record<string, string> = {
    ...resources.env,
    NATS_STREAM_REPLICAS: "3",
    LOG_LEVEL: "warn",
    HEALTH_INTERVAL_MS: "200",
    SHUTDOWN_TIMEOUT_MS: "3000",
    IDENTITY_RATE_LIMIT_ADDRESS_BURST: "100000",
    IDENTITY_RATE_LIMIT_ADDRESS_PER_MINUTE: "100000",
    // identity and connection reach both relays round-robin (grpc-js `ipv4:` list), as through a headless Service.
    LOCATION_ADDR: everyReplica("location"),
    ...extraEnv,
  };

  const envFor = (service: Service, replica: number): Record<string, string> => ({
    ...env,
    [`${service.toUpperCase()}_PORT`]: String(servicePort(service, replica)),
    // One seed node per replica (NATS_URL takes one URL); nats.js learns the other members from the
    // cluster's INFO and fails over to them.
    NATS_URL: `nats://127.0.0.1:${natsPort(replica)}`,
    // Each gateway sends to its own replicas, so a test knows which replica served a device.
    ...(options.routing === "all"
      ? {
          IDENTITY_ADDR: everyReplica("identity"),
          CONNECTION_ADDR: everyReplica("connection"),
          LOCATION_ADDR: everyReplica("location"),
        }
      : service === "gateway"
        ? {
            IDENTITY_ADDR: `127.0.0.1:${servicePort("identity", replica)}`,
            CONNECTION_ADDR: `127.0.0.1:${servicePort("connection", replica)}`,
            LOCATION_ADDR: `127.0.0.1:${servicePort("location", replica)}`,
          }
        : {
            IDENTITY_ADDR: `127.0.0.1:${servicePort("identity", replica)}`,
            CONNECTION_ADDR: `127.0.0.1:${servicePort("connection", replica)}`,
          }),
  });

  const serving = (service: Service, replica: number, timeoutMs = 60_000) =>
    waitFor(async () => (await checkHealth(`127.0.0.1:${servicePort(service, replica)}`)) === "SERVING", timeoutMs, 50);

  const start = async (service: Service, replica: number) => {
    const child = spawn(process.execPath, [join(ROOT, "services", service, "dist", "main.js")], {
      cwd: ROOT,
      env: { ...process.env, ...envFor(service, replica) },
      stdio: ["ignore", "ignore", "pipe"],
    });
    child.stderr!.on("data", (chunk: Buffer) => errors.push(`${service}-${replica}: ${chunk.toString().trim()}`));
    services.set(`${service}-${replica}`, child);
    const up = await waitFor(
      async () => {
        if (child.exitCode !== null) return true;
        return (await checkHealth(`127.0.0.1:${servicePort(service, replica)}`)) === "SERVING";
      },
      60_000,
      50,
    );
    if (!up || child.exitCode !== null) throw new Error(`${service}-${replica} not SERVING: ${errors.join("\n")}`);
  };

  const stopChild = async (child: ChildProcess | undefined, signal: NodeJS.Signals = "SIGTERM") => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, "exit");
    child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), 8000);
    await exited;
    clearTimeout(timer);
  };

  const stop = async () => {
    for (const service of [...SERVICES].reverse())
      await Promise.all(REPLICAS.map((r) => stopChild(services.get(`${service}-${r}`))));
    await resources.release();
    await Promise.all([...nats.values()].map((child) => stopChild(child)));
    rmSync(dataDir, { recursive: true, force: true });
  };

  try {
    // Dependencies first.
    // One at a time: creating the R3 streams right after the cluster formed can time out; the first start retries.
    for (const service of SERVICES) {
      for (const r of REPLICAS) {
        for (let attempt = 1; ; attempt++) {
          try {
            await start(service, r);
            break;
          } catch (error) {
            if (attempt === 3) throw error;
          }
        }
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    resources,
    env,
    gatewayUrl: (replica) => `http://127.0.0.1:${servicePort("gateway", replica)}`,
    killNats: (node) => void nats.get(node)?.kill("SIGKILL"),
    startNats,
    kill: (service, replica) => void services.get(`${service}-${replica}`)?.kill("SIGKILL"),
    start,
    serving,
    stop,
  };
}
