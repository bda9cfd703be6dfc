import { checkHealth } from "@seeme/testkit/health";
import { startStack, type Stack } from "../stack.js";
import { TEST_DATABASE_URL } from "@seeme/testkit/database";
import { startTcpProxy, type TcpProxy } from "@seeme/testkit/tcp-proxy";
import { waitFor } from "@seeme/testkit/wait";

/**
 * Health follows real dependencies without restarts: every service's
 * PostgreSQL and NATS connections go through proxies this test cuts and
 * restores (the machine's shared servers keep running for other suites).
 */
describe("health follows PostgreSQL and NATS", () => {
  let stack: Stack;
  let postgres: TcpProxy;
  let nats: TcpProxy;

  beforeAll(async () => {
    const pg = new URL(TEST_DATABASE_URL);
    postgres = await startTcpProxy(pg.hostname, Number(pg.port || 5432));
    const natsUrl = new URL(process.env.NATS_URL ?? "nats://127.0.0.1:4222");
    nats = await startTcpProxy(natsUrl.hostname, Number(natsUrl.port || 4222));
    const viaProxy = (url: string) => url.replace(`${pg.hostname}:${pg.port || 5432}`, `127.0.0.1:${postgres.port}`);
    stack = await startStack("health", {
      env: { HEALTH_INTERVAL_MS: "100" },
      databaseUrl: viaProxy,
      natsUrl: `nats://127.0.0.1:${nats.port}`,
    });
  });

  afterAll(async () => {
    postgres.restore();
    nats.restore();
    await stack?.stop();
    await postgres.close();
    await nats.close();
  });

  const statuses = () =>
    Promise.all(
      (["identity", "connection", "location", "gateway"] as const).map((name) =>
        checkHealth(stack.address(name)).catch(() => "DOWN"),
      ),
    );
  const all = (status: string) => async () => (await statuses()).every((s) => s === status);

  it("reports NOT_SERVING while PostgreSQL is unreachable and SERVING again when it returns", async () => {
    // Location reports SERVING once its routes have caught up, a moment after it started.
    expect(await waitFor(all("SERVING"), 15_000)).toBe(true);
    postgres.cut();
    expect(await waitFor(all("NOT_SERVING"), 15_000)).toBe(true);
    expect(await checkHealth(stack.address("location"), "liveness")).toBe("SERVING");
    postgres.restore();
    expect(await waitFor(all("SERVING"), 15_000)).toBe(true);
  });

  it("reports NOT_SERVING while NATS is unreachable and SERVING again when it returns", async () => {
    nats.cut();
    expect(await waitFor(async () => (await statuses()).slice(0, 3).every((s) => s === "NOT_SERVING"), 15_000)).toBe(
      true,
    );
    nats.restore();
    expect(await waitFor(all("SERVING"), 30_000)).toBe(true);
  });
});
