import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDevice } from "@seeme/cli/device";
import { waitFor } from "@seeme/testkit/health";
import { startStack, type Stack } from "../stack.js";
import { seeMe } from "./cli-process.js";
import { pair } from "./helpers.js";

/**
 * Offline-first through the CLI (issue #12, "Must show"): with the whole stack
 * stopped, `send status sos` and `sharing off` succeed as "queued"; once the stack
 * is back, `sync` sends both and the peer receives them in order.
 *
 * Needs the SDK to queue before any network call (branch `sdk`); until that is
 * merged `send` fails offline ("fetch failed" from GetServerInfo) and this fails.
 */
let stack: Stack;
const homes: string[] = [];
const SERVICES = ["identity", "connection", "location", "gateway"] as const;

beforeAll(async () => {
  stack = await startStack("e2e_cli_offline");
}, 30_000);

afterAll(async () => {
  for (const home of homes) await rm(home, { recursive: true, force: true });
  await stack?.stop();
});

test("send status sos and sharing off with the stack stopped are queued, and reach the peer in order once it is back", async () => {
  for (const name of ["kid", "mum"]) homes.push(await mkdtemp(join(tmpdir(), `see-me-offline-${name}-`)));
  const [kidHome, mumHome] = homes;
  const kid = openDevice({ home: kidHome, gateway: stack.gatewayUrl });
  const mum = openDevice({ home: mumHome, gateway: stack.gatewayUrl });
  await kid.register();
  await mum.register();
  const { a: connection } = await pair(kid, mum, { a: "mum", b: "kid" });
  expect(
    await waitFor(async () => (await kid.sync(), (await kid.connection(connection)).status === "active"), 10_000, 100),
  ).toBe(true);
  const at = (home: string) => ["--home", home, "--gateway", stack.gatewayUrl];

  for (const name of [...SERVICES].reverse()) await stack.stopService(name);
  try {
    const sos = await seeMe(["send", "status", "sos", ...at(kidHome)]);
    expect(sos).toMatchObject({ code: 0, stderr: "" });
    expect(sos.stdout).toContain("queued (will be sent on next sync)");
    const sharing = await seeMe(["sharing", "off", ...at(kidHome)]);
    expect(sharing).toMatchObject({ code: 0, stderr: "" });
    expect(sharing.stdout).toContain("location sharing is off");
    expect(sharing.stdout).toContain("queued (will be sent on next sync)");
  } finally {
    for (const name of SERVICES) await stack.startService(name);
  }

  const sync = await seeMe(["sync", ...at(kidHome)]);
  expect(sync).toMatchObject({ code: 0, stderr: "" });
  expect(sync.stdout).toMatch(/synced: 2 sent/);
  const received = await seeMe(["sync", ...at(mumHome)]);
  expect(received).toMatchObject({ code: 0, stderr: "" });
  const statuses = received.stdout.split("\n").filter((line) => line.includes("status"));
  expect(statuses).toEqual([
    expect.stringContaining('kid: status "sos"'),
    expect.stringContaining('kid: status "location-sharing-off"'),
  ]);
  expect((await seeMe(["list", ...at(mumHome)])).stdout).toMatch(/kid\s+active\s+\S+\s+peer sharing OFF/);
}, 90_000);
