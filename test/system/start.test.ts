import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { checkHealth } from "@seeme/testkit/health";
import { createTestBus } from "@seeme/testkit/nats";
import { listServices } from "@seeme/testkit/reflection";
import { waitFor } from "@seeme/testkit/wait";

/**
 * The README's run command as a newcomer meets it: scripts/start.ts (what
 * `npm start` runs after building) with no database URLs, so each service
 * uses an embedded PostgreSQL, against the machine's NATS. Ports, data folder
 * and subject prefix are this test's own.
 */
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("npm start", () => {
  it("brings up all four processes SERVING with reflection, and stops on SIGINT within 10 s with status 0", async () => {
    const bus = createTestBus("start");
    const dataDir = mkdtempSync(join(tmpdir(), "seeme-start-"));
    const ports = { IDENTITY_PORT: await freePort(), CONNECTION_PORT: await freePort(), LOCATION_PORT: await freePort(), GATEWAY_PORT: await freePort() };
    const env: NodeJS.ProcessEnv = { ...process.env, SEEME_DATA_DIR: dataDir, NATS_SUBJECT_PREFIX: bus.prefix, METRICS_PORT: "0", ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])) };
    for (const name of ["IDENTITY", "CONNECTION", "LOCATION"]) {
      delete env[`${name}_DATABASE_URL`];
      env[`${name}_ADDR`] = `127.0.0.1:${ports[`${name}_PORT` as keyof typeof ports]}`;
    }
    const launcher = spawn(process.execPath, ["--import", "tsx", "scripts/start.ts"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    launcher.stdout.on("data", (chunk) => (output += chunk));
    launcher.stderr.on("data", (chunk) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => launcher.once("exit", (code) => resolve(code)));
    try {
      const started = Date.now();
      expect(await waitFor(() => output.includes("all four services SERVING"), 60_000, 100)).toBe(true);
      expect(Date.now() - started).toBeLessThan(60_000);

      const addresses = Object.values(ports).map((port) => `127.0.0.1:${port}`);
      expect(await Promise.all(addresses.map((address) => checkHealth(address)))).toEqual(["SERVING", "SERVING", "SERVING", "SERVING"]);
      expect(await listServices(addresses[0])).toEqual(expect.arrayContaining(["seeme.identity.v1.IdentityService", "seeme.identity.v1.IdentityInternalService"]));
      expect(await listServices(addresses[1])).toEqual(expect.arrayContaining(["seeme.connection.v1.ConnectionService", "seeme.connection.v1.ConnectionInternalService"]));
      expect(await listServices(addresses[2])).toEqual(expect.arrayContaining(["seeme.location.v1.LocationService", "seeme.location.v1.LocationAdminService"]));
      expect((await fetch(`http://${addresses[3]}/healthz`)).status).toBe(200);
      // The web app at / (built by `npm run build`, which npm start and npm test run first).
      expect(output).toContain(`web app    http://127.0.0.1:${ports.GATEWAY_PORT}/`);
      expect(await (await fetch(`http://${addresses[3]}/`)).text()).toContain("<title>see-me</title>");

      const stopping = Date.now();
      launcher.kill("SIGINT");
      expect(await exited).toBe(0);
      expect(Date.now() - stopping).toBeLessThan(10_000);
      expect(output).toContain("stopped");
    } finally {
      launcher.kill("SIGKILL");
      rmSync(dataDir, { recursive: true, force: true });
      await bus.cleanup();
    }
  }, 90_000);

  it("stops with one line naming the variable on bad configuration", () => {
    const result = spawnSync(process.execPath, ["--import", "tsx", "services/gateway/src/main.ts"], {
      cwd: ROOT,
      env: { ...process.env, GATEWAY_PORT: "abc", INTERNAL_AUTH_SECRET: "x".repeat(32) },
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(result.status).toBe(78);
    expect(result.stderr.trim().split("\n")).toEqual(['gateway: invalid configuration: GATEWAY_PORT must be an integer from 0 to 65535, got "abc"']);
  });
});
