/**
 * `npm run bench:hot-path`: CPU the gateway and location spend per Sync (10
 * packets of 128 bytes, then 1), measured from /proc of the service processes,
 * for each binary client protocol (gRPC, Connect proto, gRPC-web) and Connect JSON.
 * CPU per call is stable on a noisy machine, unlike throughput.
 * Three gateway paths alternate, `--rounds` (2) times each, in one session, so
 * all see the same machine load: "raw" (the default: gRPC Sync/Subscribe relayed
 * as raw HTTP/2 streams, relay.ts; other protocols take the undecoded Connect
 * path), "undecoded" (GATEWAY_RAW_RELAY=false: the Connect server with
 * undecoded messages and a grpc-js client) and "decoded" (also
 * GATEWAY_FORWARD_UNDECODED=false). `--modes raw,decoded` to pick.
 * `--syncs N` per protocol (default 2000); `--protocols grpc,connect-proto` to
 * pick; `--profile` then runs gRPC at 10 per Sync once more under --cpu-prof
 * (default path, or `--profile-mode`) and prints where the gateway's and
 * location's time goes. A call refused by admission control (a loaded machine)
 * is retried after its hint and not counted.
 */
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { LocationService } from "@seeme/contracts/location";
import { mkdirSync } from "node:fs";
import { startCpuMeter } from "./lib/cpu.js";
import { profilesIn, summarizeProfile } from "./lib/profile.js";
import { createPairs } from "./lib/devices.js";
import { ROOT, startProcessStack } from "./lib/stack.js";
import { blobFor, round } from "./lib/stats.js";

const arg = (name: string, fallback: number) => {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
};
const SYNCS = arg("syncs", 2000);
const CONCURRENCY = 4;
const ROUNDS = arg("rounds", 2);
const at = process.argv.indexOf("--protocols");
const only = at === -1 ? undefined : process.argv[at + 1].split(",");
const MODES = ["raw", "undecoded", "decoded"] as const;
type Mode = (typeof MODES)[number];
const modesAt = process.argv.indexOf("--modes");
const chosenModes = modesAt === -1 ? [...MODES] : (process.argv[modesAt + 1].split(",") as Mode[]);
const profileAt = process.argv.indexOf("--profile-mode");
const profileMode = (profileAt === -1 ? "raw" : process.argv[profileAt + 1]) as Mode;

function setMode(env: Record<string, string>, mode: Mode): void {
  env.GATEWAY_RAW_RELAY = String(mode === "raw");
  env.GATEWAY_FORWARD_UNDECODED = String(mode !== "decoded");
}

/** One Sync; a refusal by admission control (the machine is shared and may be loaded) waits for its hint and retries. */
async function syncRetrying(call: () => Promise<unknown>): Promise<void> {
  for (;;) {
    try {
      await call();
      return;
    } catch (error) {
      const failure = ConnectError.from(error);
      if (failure.code !== Code.ResourceExhausted) throw error;
      await new Promise((resolve) => setTimeout(resolve, Number(failure.metadata.get("retry-after-ms") ?? 100)));
    }
  }
}

const logDir = `${ROOT}bench/results/hot-path-${new Date().toISOString().replace(/[:.]/g, "-")}`;
mkdirSync(logDir, { recursive: true });
const stack = await startProcessStack("hotpath", { logDir });
try {
  const pairs = await createPairs(stack.gatewayUrl, CONCURRENCY);
  for (const pair of pairs) {
    pair.sender.close();
    pair.recipient.close();
  }
  const rows: Array<Record<string, string | number>> = [];
  const modes = Array.from({ length: ROUNDS }, () => chosenModes).flat();
  for (const [round_, mode] of modes.entries()) {
    if (stack.restart) {
      setMode(stack.env, mode);
      await stack.restart([]);
    }
    const transports: Record<string, Transport> = {
      grpc: createGrpcTransport({ baseUrl: stack.gatewayUrl }),
      "connect-proto": createConnectTransport({ baseUrl: stack.gatewayUrl, httpVersion: "2" }),
      "grpc-web": createGrpcWebTransport({ baseUrl: stack.gatewayUrl, httpVersion: "2" }),
      "connect-json": createConnectTransport({ baseUrl: stack.gatewayUrl, httpVersion: "2", useBinaryFormat: false }),
    };
    for (const packetsPerSync of [10, 1]) {
      for (const [protocol, transport] of Object.entries(transports)) {
        if (only && !only.includes(protocol)) continue;
        const client = createClient(LocationService, transport);
        const run = async (count: number) => {
          let next = 0;
          await Promise.all(
            pairs.map(async (pair) => {
              const headers = { authorization: `Bearer ${pair.sender.account.sessionToken}` };
              while (next < count) {
                next += 1;
                const data = Array.from({ length: packetsPerSync }, (_, i) => ({
                  pairId: pair.to,
                  packetId: pair.nextPacketId++,
                  blob: blobFor(i),
                }));
                await syncRetrying(() => client.sync({ data, skipIncoming: true }, { headers }));
              }
            }),
          );
        };
        await run(200); // warm-up: JIT, connections, session caches
        const meter = await startCpuMeter({
          gateway: () => [stack.pid("gateway")],
          location: () => [stack.pid("location")],
        });
        const started = performance.now();
        await run(SYNCS);
        const seconds = (performance.now() - started) / 1000;
        const cores = await meter();
        const perSync = (cores: number) => round((cores * seconds * 1000) / SYNCS, 3);
        rows.push({
          round: Math.floor(round_ / chosenModes.length) + 1,
          gateway: mode,
          protocol,
          packetsPerSync,
          syncs: SYNCS,
          syncsPerSecond: round(SYNCS / seconds, 0),
          gatewayMsPerSync: perSync(cores.gateway),
          locationMsPerSync: perSync(cores.location),
          loadGeneratorMsPerSync: perSync(cores["load generator"]),
        });
        process.stdout.write(`${JSON.stringify(rows.at(-1))}\n`);
      }
    }
  }
  if (process.argv.includes("--profile") && stack.restart) {
    setMode(stack.env, profileMode);
    const dir = `${logDir}/profiles`;
    mkdirSync(dir, { recursive: true });
    await stack.restart(["--cpu-prof", `--cpu-prof-dir=${dir}`]);
    const gatewayPid = stack.pid("gateway");
    const locationPid = stack.pid("location");
    const client = createClient(LocationService, createGrpcTransport({ baseUrl: stack.gatewayUrl }));
    const fromUs = Number(process.hrtime.bigint() / 1000n);
    let next = 0;
    await Promise.all(
      pairs.map(async (pair) => {
        const headers = { authorization: `Bearer ${pair.sender.account.sessionToken}` };
        while (next++ < SYNCS) {
          const data = Array.from({ length: 10 }, (_, i) => ({
            pairId: pair.to,
            packetId: pair.nextPacketId++,
            blob: blobFor(i),
          }));
          await syncRetrying(() => client.sync({ data, skipIncoming: true }, { headers }));
        }
      }),
    );
    const toUs = Number(process.hrtime.bigint() / 1000n);
    await stack.restart([]);
    const profiles = profilesIn(dir);
    for (const [service, pid] of [
      ["gateway", gatewayPid],
      ["location", locationPid],
    ] as const) {
      const summary = summarizeProfile(profiles.get(pid)!, { fromUs, toUs }, 25);
      process.stdout.write(
        `\n${service} profile (gRPC, 10 per Sync, ${profileMode}): ${summary.busyMs} ms busy in ${summary.windowMs} ms, ${round(summary.busyMs / SYNCS, 3)} ms per Sync\n`,
      );
      for (const entry of summary.topModules) process.stdout.write(`  ${entry.percent}%  ${entry.name}\n`);
      for (const entry of summary.topFunctions) process.stdout.write(`    ${entry.percent}%  ${entry.name}\n`);
    }
  }
  process.stdout.write(
    `\nload average ${(await import("node:os"))
      .loadavg()
      .map((l) => round(l, 2))
      .join(" ")}\n`,
  );
  console.table(rows);
  // Mean over the rounds, side by side.
  const summary = new Map<string, Record<string, string | number>>();
  for (const row of rows) {
    const key = `${row.protocol} ${row.packetsPerSync}`;
    const entry = summary.get(key) ?? { protocol: row.protocol, packetsPerSync: row.packetsPerSync };
    for (const field of ["gatewayMsPerSync", "locationMsPerSync"]) {
      const name = `${field} ${row.gateway}`;
      entry[name] = round(Number(entry[name] ?? 0) + Number(row[field]) / ROUNDS, 3);
    }
    summary.set(key, entry);
  }
  console.table([...summary.values()]);
} finally {
  await stack.stop();
}
