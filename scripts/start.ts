/**
 * `npm start`: runs the whole see-me system on this machine.
 *
 * - NATS from NATS_URL (default nats://127.0.0.1:4222); if nothing answers and
 *   `nats-server` is installed, a JetStream server is started with data in .data/nats.
 * - Each service's database from <SERVICE>_DATABASE_URL, or, when unset, an
 *   embedded PostgreSQL (PGlite) persisted in .data/pglite/<service>.
 * - identity, connection, location and gateway as child processes with
 *   prefixed, readable logs; ready when all four report SERVING.
 * - Ctrl-C (or SIGTERM) stops everything within 10 s.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { checkHealth, waitFor } from "@seeme/testkit/health";
import { startPglite, type EmbeddedDatabase } from "./pglite.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
// SEEME_DATA_DIR moves local state (PGlite, dev secrets, NATS store) elsewhere, e.g. for tests.
const DATA = process.env.SEEME_DATA_DIR ?? join(ROOT, ".data");
const SERVICES = [
  { name: "identity", port: 50051, color: 36 },
  { name: "connection", port: 50052, color: 35 },
  { name: "location", port: 50053, color: 33 },
  { name: "gateway", port: 8080, color: 32 },
] as const;
const STOP_DEADLINE_MS = 9000;

const say = (line: string) => process.stdout.write(`\x1b[1m[see-me]\x1b[0m ${line}\n`);

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

const LEVELS: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };

/** Turns a pino JSON line into "INFO message key=value"; other lines pass through. */
function readable(line: string): string {
  if (!line.startsWith("{")) return line;
  try {
    const { level, msg, time, pid, hostname, name, ...rest } = JSON.parse(line) as Record<string, unknown>;
    void time; void pid; void hostname; void name;
    const fields = Object.entries(rest).map(([key, value]) => `${key}=${typeof value === "object" ? JSON.stringify(value) : String(value)}`);
    return [LEVELS[Number(level)] ?? String(level), msg, ...fields].filter(Boolean).join(" ");
  } catch {
    return line;
  }
}

async function main(): Promise<void> {
  mkdirSync(DATA, { recursive: true });
  const cleanups: Array<() => Promise<void> | void> = [];

  const natsUrl = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
  if (!(await answers(natsUrl))) {
    if (spawnSync("nats-server", ["--version"]).status !== 0) {
      say(`NATS does not answer at ${natsUrl} and nats-server is not installed: install it (Debian: apt-get install nats-server) or set NATS_URL.`);
      process.exit(1);
    }
    const { port } = new URL(natsUrl);
    const nats = spawn("nats-server", ["-a", "127.0.0.1", "-p", port || "4222", "-js", "-sd", join(DATA, "nats")], { stdio: "ignore" });
    cleanups.push(() => void nats.kill("SIGTERM"));
    if (!(await waitFor(() => answers(natsUrl), 10_000, 100))) throw new Error("nats-server did not start");
    say(`started nats-server with JetStream (data in ${join(DATA, "nats")})`);
  }

  const env: Record<string, string> = {
    NATS_URL: natsUrl,
    INTERNAL_AUTH_SECRET: process.env.INTERNAL_AUTH_SECRET ?? randomBytes(32).toString("base64url"),
    ADMIN_TOKEN: process.env.ADMIN_TOKEN ?? persistentSecret("admin-token"),
    SERVER_SIGNING_KEY_FILE: process.env.SERVER_SIGNING_KEY_FILE ?? join(DATA, "server-signing-key"),
  };
  const embedded: EmbeddedDatabase[] = [];
  for (const { name } of SERVICES.slice(0, 3)) {
    const variable = `${name.toUpperCase()}_DATABASE_URL`;
    if (process.env[variable]) continue;
    const database = await startPglite({ dataDir: join(DATA, "pglite", name) });
    embedded.push(database);
    env[variable] = database.url;
  }
  if (embedded.length) say(`using embedded PostgreSQL (PGlite) in ${join(DATA, "pglite")} for ${embedded.length} service database(s); set <SERVICE>_DATABASE_URL to use a server`);
  cleanups.push(async () => {
    for (const database of embedded) await database.stop();
  });

  const children: ChildProcess[] = [];
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say("stopping…");
    const exits = children.filter((child) => child.exitCode === null).map((child) => new Promise((resolve) => child.once("exit", resolve)));
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

  for (const service of SERVICES) {
    const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "services", service.name, "src", "main.ts")], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const prefix = `\x1b[${service.color}m${service.name.padEnd(10)}\x1b[0m|`;
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on("line", (line) => process.stdout.write(`${prefix} ${readable(line)}\n`));
    }
    child.once("exit", (code, signal) => {
      if (!stopping) {
        say(`${service.name} exited unexpectedly (${signal ?? `code ${code}`}); stopping the rest`);
        void stopAll(1);
      }
    });
    children.push(child);
  }

  const portOf = ({ name, port }: (typeof SERVICES)[number]) => Number(process.env[`${name.toUpperCase()}_PORT`] || port);
  const ready = await waitFor(async () => {
    const states = await Promise.all(SERVICES.map((service) => checkHealth(`127.0.0.1:${portOf(service)}`).catch(() => "DOWN")));
    return states.every((state) => state === "SERVING");
  }, 60_000, 250);
  if (!ready) {
    say("not all services reported SERVING within 60 s");
    return stopAll(1);
  }
  const [identity, connection, location, gateway] = SERVICES.map(portOf);
  say("all four services SERVING:");
  say(`  web app    http://127.0.0.1:${gateway}/  (open it in a browser; on a phone, serve it over HTTPS for camera and location)`);
  say(`  gateway    http://127.0.0.1:${gateway}  (Connect, gRPC, gRPC-web; GET /healthz)`);
  say(`  identity   127.0.0.1:${identity}   connection 127.0.0.1:${connection}   location 127.0.0.1:${location}  (gRPC, health, reflection)`);
  say(`  admin token for LocationAdminService: ${join(DATA, "admin-token")}   ·   Ctrl-C stops everything`);
}

main().catch((error: unknown) => {
  say(`failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
