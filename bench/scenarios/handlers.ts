import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { LocationService } from "@seeme/contracts/location";
import { createGrpcClient } from "@seeme/runtime/grpc";
import type { Progress } from "../lib/progress.js";
import { ROOT } from "../lib/stack.js";
import { blobFor, closedLoop, type LatencySummary } from "../lib/stats.js";

interface HandlerPoint {
  /** Sync calls per second; each carries one 128-byte packet, so also packets per second. */
  requestsPerSecond: number;
  latency: LatencySummary;
}

export interface HandlersResult {
  concurrency: number;
  connect: HandlerPoint;
  grpc: HandlerPoint;
}

/** One of bench/servers/empty-handlers.ts's servers, in its own process. */
export async function startEmptyServer(
  kind: "connect" | "grpc" | "held" | "held-http1",
): Promise<{ port: number; pid: number; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ["--import", "tsx", `${ROOT}bench/servers/empty-handlers.ts`, kind], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const [line] = (await once(createInterface({ input: child.stdout! }), "line")) as [string];
  const port = Number(/^port (\d+)$/.exec(line)?.[1]);
  if (!port) throw new Error(`empty ${kind} server said: ${line}`);
  return {
    port,
    pid: child.pid!,
    async stop() {
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      await exited;
    },
  };
}

const PAIR_ID = "P".repeat(40);
const request = (i: number) => ({ data: [{ pairId: PAIR_ID, packetId: i, blob: blobFor(i) }] });

/**
 * C0 (connect-node server, called with connect-node's gRPC transport, as devices
 * call the gateway) and G0 (grpc-js server through the runtime adapter, called
 * with the runtime's grpc-js client, as the gateway calls location).
 */
export async function benchHandlers(
  say: Progress,
  options: { durationMs: number; concurrency: number },
): Promise<HandlersResult> {
  const loop = { concurrency: options.concurrency, durationMs: options.durationMs, warmupMs: options.durationMs / 4 };
  const connectServer = await startEmptyServer("connect");
  let connect;
  try {
    const client = createClient(
      LocationService,
      createGrpcTransport({ baseUrl: `http://127.0.0.1:${connectServer.port}` }),
    );
    let i = 0;
    const run = await closedLoop(loop, async () => (await client.sync(request(i++)), 1));
    connect = { requestsPerSecond: run.perSecond, latency: run.latency };
  } finally {
    await connectServer.stop();
  }
  say(`C0 empty Connect handler: ${connect.requestsPerSecond} req/s (p50 ${connect.latency.p50Ms} ms)`);

  const grpcServer = await startEmptyServer("grpc");
  let grpc;
  try {
    const client = createGrpcClient(LocationService, `127.0.0.1:${grpcServer.port}`);
    let i = 0;
    const run = await closedLoop(loop, async () => (await client.sync(request(i++)), 1));
    client.close();
    grpc = { requestsPerSecond: run.perSecond, latency: run.latency };
  } finally {
    await grpcServer.stop();
  }
  say(`G0 empty grpc-js handler: ${grpc.requestsPerSecond} req/s (p50 ${grpc.latency.p50Ms} ms)`);
  return { concurrency: options.concurrency, connect, grpc };
}
