/**
 * `npm start`: runs the whole see-me system on this machine.
 *
 * - NATS from NATS_URL (default nats://127.0.0.1:4222); if nothing answers and
 *   `nats-server` is installed, a JetStream server is started with data in .data/nats.
 * - Each service's database from <SERVICE>_DATABASE_URL, or, when unset, an
 *   embedded PostgreSQL (PGlite) persisted in .data/pglite/<service>.
 * - identity, connection, location and gateway as child processes running their
 *   compiled dist/main.js, each started once its database is up and the services it
 *   calls at start-up report SERVING (so a healthy start logs no "dependency
 *   unreachable"); ready when all four report SERVING.
 * - One log stream: "HH:MM:SS.mmm service | LEVEL message key=value", coloured only
 *   when stdout is a terminal (and NO_COLOR is unset).
 * - SIGINT (Ctrl-C or `kill -INT`) or SIGTERM stops everything within 10 s.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import webpush from "web-push";
import { allocatorEnv } from "@seeme/runtime/allocator";
import { checkHealth, waitFor } from "@seeme/testkit/health";
import { clock, formatLine, paint, styleFor } from "./log-stream.js";
import { startPglite, type EmbeddedDatabase } from "./pglite.js";

// Runs compiled, from scripts/dist/start.js: the repository is two levels up.
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
// SEEME_DATA_DIR moves local state (PGlite, dev secrets, NATS store) elsewhere, e.g. for tests.
const DATA = process.env.SEEME_DATA_DIR ?? join(ROOT, ".data");
/** `after`: services this one calls while starting (location rebuilds its routes from connection). */
const SERVICES = [
  { name: "identity", port: 50051, color: 36, database: true, after: [] },
  { name: "connection", port: 50052, color: 35, database: true, after: [] },
  { name: "location", port: 50053, color: 33, database: true, after: ["connection"] },
  { name: "gateway", port: 8080, color: 32, database: false, after: ["identity", "connection", "location"] },
] as const;
type Service = (typeof SERVICES)[number];
const STOP_DEADLINE_MS = 9000;

const style = styleFor(process.stdout);
const say = (line: string) => process.stdout.write(`${clock(Date.now())} ${paint(style, 1, "[see-me]")} ${line}\n`);

function answers(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname, port: Number(port || 4222), timeout: 1000 });
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
    socket.once("timeout", () => (socket.destroy(), resolve(false)));
  });
}

/** A secret kept in .data so restarts keep working with what clients already hold. */
function persistentSecret(file: string): string {
  const path = join(DATA, file);
  if (!existsSync(path)) writeFileSync(path, randomBytes(32).toString("base64url"), { mode: 0o600 });
  return readFileSync(path, "utf8").trim();
}

/** The VAPID key pair for Web Push, kept in .data so browsers' subscriptions stay valid across restarts. */
function persistentVapidKeys(): Record<string, string> {
  const path = join(DATA, "vapid.json");
  if (!existsSync(path)) writeFileSync(path, JSON.stringify(webpush.generateVAPIDKeys()), { mode: 0o600 });
  const { publicKey, privateKey } = JSON.parse(readFileSync(path, "utf8")) as { publicKey: string; privateKey: string };
  return { VAPID_PUBLIC_KEY: publicKey, VAPID_PRIVATE_KEY: privateKey, VAPID_SUBJECT: "mailto:admin@localhost" };
}

async function main(): Promise<void> {
  mkdirSync(DATA, { recursive: true });
  const cleanups: Array<() => Promise<void> | void> = [];

  const natsUrl = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
  if (!(await answers(natsUrl))) {
    if (spawnSync("nats-server", ["--version"]).status !== 0) {
      say(
        `NATS does not answer at ${natsUrl} and nats-server is not installed: install it (Debian: apt-get install nats-server) or set NATS_URL.`,
      );
      process.exit(1);
    }
    const { port } = new URL(natsUrl);
    const nats = spawn("nats-server", ["-a", "127.0.0.1", "-p", port || "4222", "-js", "-sd", join(DATA, "nats")], {
      stdio: "ignore",
    });
    cleanups.push(() => void nats.kill("SIGTERM"));
    if (!(await waitFor(() => answers(natsUrl), 10_000, 100))) throw new Error("nats-server did not start");
    say(`started nats-server with JetStream (data in ${join(DATA, "nats")})`);
  }

  const env: Record<string, string> = {
    NATS_URL: natsUrl,
    INTERNAL_AUTH_SECRET: process.env.INTERNAL_AUTH_SECRET ?? randomBytes(32).toString("base64url"),
    ADMIN_TOKEN: process.env.ADMIN_TOKEN ?? persistentSecret("admin-token"),
    SERVER_SIGNING_KEY_FILE: process.env.SERVER_SIGNING_KEY_FILE ?? join(DATA, "server-signing-key"),
    ...(process.env.VAPID_PUBLIC_KEY ? {} : persistentVapidKeys()),
    // jemalloc when installed: RSS comes back after a burst (docs/reliability.md).
    ...allocatorEnv(),
  };
  const portOf = ({ name, port }: Service) => Number(process.env[`${name.toUpperCase()}_PORT`] || port);
  for (const service of SERVICES) {
    // Callers find the internal services on the ports chosen here unless told otherwise.
    if (service.name !== "gateway")
      env[`${service.name.toUpperCase()}_ADDR`] =
        process.env[`${service.name.toUpperCase()}_ADDR`] ?? `127.0.0.1:${portOf(service)}`;
  }
  // The local run migrates at start; Kubernetes migrates in a Job instead (docs/deploy.md).
  env.MIGRATE_ON_START = process.env.MIGRATE_ON_START ?? "true";
  // Node keeps the services' compiled bytecode here between runs: a quicker restart.
  env.NODE_COMPILE_CACHE = process.env.NODE_COMPILE_CACHE ?? join(DATA, "compile-cache");

  const embedded: EmbeddedDatabase[] = [];
  cleanups.push(async () => {
    for (const database of embedded) await database.stop();
  });
  const children: ChildProcess[] = [];
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say("stopping…");
    const exits = children
      .filter((child) => child.exitCode === null)
      .map((child) => new Promise((resolve) => child.once("exit", resolve)));
    children.forEach((child) => child.kill("SIGTERM"));
    const deadline = setTimeout(() => children.forEach((child) => child.kill("SIGKILL")), STOP_DEADLINE_MS);
    await Promise.all(exits);
    clearTimeout(deadline);
    for (const cleanup of cleanups.reverse()) await cleanup();
    say("stopped");
    process.exit(code);
  };
  process.on("SIGINT", () => void stopAll(0));
  process.on("SIGTERM", () => void stopAll(0));

  const serving = (service: Service) =>
    checkHealth(`127.0.0.1:${portOf(service)}`).then(
      (state) => state === "SERVING",
      () => false,
    );
  const launch = (service: Service, databaseUrl?: string) => {
    if (stopping) return;
    const childEnv = {
      ...process.env,
      ...env,
      ...(databaseUrl ? { [`${service.name.toUpperCase()}_DATABASE_URL`]: databaseUrl } : {}),
    };
    const child = spawn(process.execPath, [join(ROOT, "services", service.name, "dist", "main.js")], {
      cwd: ROOT,
      env: childEnv,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const prefix = `${paint(style, service.color, service.name.padEnd(10))}|`;
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on("line", (line) => process.stdout.write(`${formatLine(line, prefix)}\n`));
    }
    child.once("exit", (code, signal) => {
      if (!stopping) {
        say(`${service.name} exited unexpectedly (${signal ?? `code ${code}`}); stopping the rest`);
        void stopAll(1);
      }
    });
    children.push(child);
  };

  // Embedded databases open first, one after another: PGlite runs on this thread and
  // opening one keeps it busy for seconds, long enough for a service already talking
  // to another embedded database to time out. Then each service starts once what it
  // calls at start-up reports SERVING.
  const urls = new Map<string, string>();
  for (const service of SERVICES.filter((s) => s.database)) {
    if (process.env[`${service.name.toUpperCase()}_DATABASE_URL`]) continue;
    const database = await startPglite({ dataDir: join(DATA, "pglite", service.name) });
    embedded.push(database);
    urls.set(service.name, database.url);
  }
  if (embedded.length)
    say(
      `using embedded PostgreSQL (PGlite) in ${join(DATA, "pglite")} for ${embedded.length} service database(s); set <SERVICE>_DATABASE_URL to use a server`,
    );
  const byName = new Map(SERVICES.map((service) => [service.name as string, service]));
  const started = SERVICES.map(async (service) => {
    const dependencies = service.after.map((name) => byName.get(name)!);
    if (!(await waitFor(async () => (await Promise.all(dependencies.map(serving))).every(Boolean), 60_000, 100)))
      return false;
    launch(service, urls.get(service.name));
    return waitFor(() => serving(service), 60_000, 100);
  });
  const ready = (await Promise.all(started)).every(Boolean);
  if (stopping) return;
  if (!ready) {
    say("not all services reported SERVING within 60 s");
    return stopAll(1);
  }
  const [identity, connection, location, gateway] = SERVICES.map(portOf);
  say("all four services SERVING:");
  say(
    `  web app    http://127.0.0.1:${gateway}/  (open it in a browser; on a phone, serve it over HTTPS for camera and location)`,
  );
  say(`  gateway    http://127.0.0.1:${gateway}  (Connect, gRPC, gRPC-web; GET /healthz)`);
  say(
    `  identity   127.0.0.1:${identity}   connection 127.0.0.1:${connection}   location 127.0.0.1:${location}  (gRPC, health, reflection)`,
  );
  say(`  admin token for LocationAdminService: ${join(DATA, "admin-token")}   ·   Ctrl-C stops everything`);
}

main().catch((error: unknown) => {
  say(`failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
