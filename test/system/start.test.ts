import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { checkHealth } from "@seeme/testkit/health";
import { createTestBus } from "@seeme/testkit/nats";
import { listServices } from "@seeme/testkit/reflection";
import { waitFor } from "@seeme/testkit/wait";
import { freePort } from "@seeme/testkit/ports";

/**
 * The README's run command as a newcomer meets it: `npm start` (build, then the
 * compiled launcher scripts/dist/start.js) with no database URLs, so each service
 * uses an embedded PostgreSQL, against the machine's NATS. Ports, data folder and
 * subject prefix are this test's own. The services run their compiled dist/ (the
 * build `npm test` ran first).
 */
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Local addresses ("127.0.0.1", "0.0.0.0", …) with a listening IPv4 TCP socket on `port`, from /proc/net/tcp. */
function listeningAddresses(port: number): string[] {
  return readFileSync("/proc/net/tcp", "utf8")
    .split("\n")
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields[3] === "0A" && Number.parseInt(fields[1]?.split(":")[1] ?? "", 16) === port)
    .map((fields) => {
      const hex = fields[1].split(":")[0];
      return [6, 4, 2, 0].map((i) => Number.parseInt(hex.slice(i, i + 2), 16)).join(".");
    });
}

const gatewayEnv = (extra: Record<string, string>) => ({
  ...process.env,
  INTERNAL_AUTH_SECRET: "x".repeat(32),
  METRICS_PORT: "0",
  ...extra,
});

describe("npm start", () => {
  it("brings up all four processes SERVING with a plain, timestamped log and no dependency warnings, and `kill -INT <npm pid>` stops everything within 10 s", async () => {
    const bus = createTestBus("start");
    const dataDir = mkdtempSync(join(tmpdir(), "seeme-start-"));
    const ports = {
      IDENTITY_PORT: await freePort(),
      CONNECTION_PORT: await freePort(),
      LOCATION_PORT: await freePort(),
      GATEWAY_PORT: await freePort(),
    };
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      SEEME_DATA_DIR: dataDir,
      NATS_SUBJECT_PREFIX: bus.prefix,
      METRICS_PORT: "0",
      ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
    };
    for (const name of ["IDENTITY", "CONNECTION", "LOCATION"]) {
      delete env[`${name}_DATABASE_URL`];
      delete env[`${name}_ADDR`];
    }
    delete env.BIND_HOST;
    delete env.NODE_ENV;
    // Its own process group, so the finally block can remove whatever is left.
    const npm = spawn("npm", ["start"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let output = "";
    npm.stdout.on("data", (chunk) => (output += chunk));
    npm.stderr.on("data", (chunk) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => npm.once("exit", (code) => resolve(code)));
    try {
      const started = Date.now();
      expect(await waitFor(() => output.includes("all four services SERVING"), 60_000, 100)).toBe(true);
      expect(Date.now() - started).toBeLessThan(60_000);

      const addresses = Object.values(ports).map((port) => `127.0.0.1:${port}`);
      expect(await Promise.all(addresses.map((address) => checkHealth(address)))).toEqual([
        "SERVING",
        "SERVING",
        "SERVING",
        "SERVING",
      ]);
      expect(await listServices(addresses[0])).toEqual(
        expect.arrayContaining(["seeme.identity.v1.IdentityService", "seeme.identity.v1.IdentityInternalService"]),
      );
      expect(await listServices(addresses[1])).toEqual(
        expect.arrayContaining([
          "seeme.connection.v1.ConnectionService",
          "seeme.connection.v1.ConnectionInternalService",
        ]),
      );
      expect(await listServices(addresses[2])).toEqual(
        expect.arrayContaining(["seeme.location.v1.LocationService", "seeme.location.v1.LocationAdminService"]),
      );
      expect((await fetch(`http://${addresses[3]}/healthz`)).status).toBe(200);
      // The web app at / (built by `npm run build`, which npm start and npm test run first).
      expect(output).toContain(`web app    http://127.0.0.1:${ports.GATEWAY_PORT}/`);
      expect(await (await fetch(`http://${addresses[3]}/`)).text()).toContain("<title>see-me</title>");

      // Internal gRPC listens on loopback in development; the public gateway on every interface.
      expect(listeningAddresses(ports.IDENTITY_PORT)).toEqual(["127.0.0.1"]);
      expect(listeningAddresses(ports.LOCATION_PORT)).toEqual(["127.0.0.1"]);
      expect(listeningAddresses(ports.GATEWAY_PORT)).toEqual(["0.0.0.0"]);

      // Piped, so no colour codes; every service line starts with a time of day.
      expect(output).not.toContain("\x1b[");
      const serviceLines = output
        .split("\n")
        .filter((line) => /\b(identity|connection|location|gateway)\s*\|/.test(line));
      expect(serviceLines.length).toBeGreaterThan(8);
      for (const line of serviceLines)
        expect(line).toMatch(/^\d\d:\d\d:\d\d\.\d{3} (identity|connection|location|gateway)\s*\| /);
      expect(output).not.toContain("dependency unreachable");
      expect(output).not.toMatch(/\bWARN\b(?! generated a development server signing key)/);

      const stopping = Date.now();
      process.kill(npm.pid!, "SIGINT");
      expect(await exited).toBe(0);
      expect(Date.now() - stopping).toBeLessThan(10_000);
      expect(output).toContain("stopped");
      // Nothing of the stack is left listening.
      for (const port of Object.values(ports)) expect(listeningAddresses(port)).toEqual([]);
    } finally {
      try {
        process.kill(-npm.pid!, "SIGKILL");
      } catch {
        // already gone
      }
      rmSync(dataDir, { recursive: true, force: true });
      await bus.cleanup();
    }
  }, 90_000);

  it("stops with one line naming the variable on bad configuration", () => {
    const result = spawnSync(process.execPath, ["services/gateway/dist/main.js"], {
      cwd: ROOT,
      env: gatewayEnv({ GATEWAY_PORT: "abc" }),
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(result.status).toBe(78);
    expect(result.stderr.trim().split("\n")).toEqual([
      'gateway: invalid configuration: GATEWAY_PORT must be an integer from 0 to 65535, got "abc"',
    ]);
  });

  it("stops with the one-line configuration error (exit 78) on a bad ?schema= in a database URL", () => {
    const result = spawnSync(process.execPath, ["services/identity/dist/main.js"], {
      cwd: ROOT,
      env: { ...gatewayEnv({}), IDENTITY_DATABASE_URL: "postgresql://postgres@127.0.0.1:5432/test?schema=not-valid" },
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(result.status).toBe(78);
    expect(result.stderr.trim().split("\n")).toEqual([
      'identity: invalid configuration: IDENTITY_DATABASE_URL has an invalid schema name in ?schema=: "not-valid" (letters, digits and _, not starting with a digit)',
    ]);
  });

  it("names IDENTITY_PORT in one line (no grpc-js log) and exits 1 when an internal gRPC port is taken", async () => {
    const bus = createTestBus("port-taken");
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const { port } = taken.address() as net.AddressInfo;
    try {
      const env = {
        ...gatewayEnv({ IDENTITY_PORT: String(port), NATS_SUBJECT_PREFIX: bus.prefix, MIGRATE_ON_START: "false" }),
        // Never migrated (MIGRATE_ON_START=false) and never queried: the bind fails first.
        IDENTITY_DATABASE_URL: "postgresql://postgres@127.0.0.1:5432/test?schema=port_taken_probe",
      };
      const result = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, ["services/identity/dist/main.js"], {
          cwd: ROOT,
          env,
          stdio: ["ignore", "ignore", "pipe"],
        });
        let stderr = "";
        child.stderr.on("data", (chunk) => (stderr += chunk));
        child.once("exit", (status) => resolve({ status, stderr }));
      });
      expect(result.status).toBe(1);
      expect(result.stderr.trim().split("\n")).toEqual([
        `identity: IDENTITY_PORT ${port} is in use: set IDENTITY_PORT to a free port`,
      ]);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
      await bus.cleanup();
    }
  });

  it.each(["GATEWAY_PORT", "METRICS_PORT"])(
    "names %s in one line and exits 1 when its port is taken",
    async (variable) => {
      const taken = net.createServer();
      await new Promise<void>((resolve) => taken.listen(0, "0.0.0.0", resolve));
      const { port } = taken.address() as net.AddressInfo;
      try {
        const ports = {
          GATEWAY_PORT: String(await freePort()),
          METRICS_PORT: String(await freePort()),
          [variable]: String(port),
        };
        const result = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
          const child = spawn(process.execPath, ["services/gateway/dist/main.js"], {
            cwd: ROOT,
            env: gatewayEnv(ports),
            stdio: ["ignore", "ignore", "pipe"],
          });
          let stderr = "";
          child.stderr.on("data", (chunk) => (stderr += chunk));
          child.once("exit", (status) => resolve({ status, stderr }));
        });
        expect(result.status).toBe(1);
        expect(result.stderr.trim().split("\n")).toEqual([
          `gateway: ${variable} ${port} is in use: set ${variable} to a free port`,
        ]);
      } finally {
        await new Promise((resolve) => taken.close(resolve));
      }
    },
  );
});
