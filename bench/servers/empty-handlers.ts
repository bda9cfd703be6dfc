/**
 * C0 and G0: the location proto's Sync served by handlers that do nothing, in
 * their own process like a service. `connect` serves it with connect-node over
 * HTTP/2 (as the gateway does), `grpc` with grpc-js through @seeme/runtime/grpc
 * (as the services do). `held` is bench/streams.ts's floor: bare node:http2
 * answering every stream with gRPC headers and one message and holding it open,
 * what any Node server holding idle streams pays before its own code; `held-http1` the same
 * over HTTP/1.1 (a Connect streaming response per connection). Prints
 * "port <n>" once listening; SIGTERM stops it.
 */
import http from "node:http";
import http2 from "node:http2";
import { once } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { LocationService } from "@seeme/contracts/location";
import { addServices, registration } from "@seeme/runtime/grpc";
import { createLogger } from "@seeme/runtime/logger";

const impl = {
  sync: async () => ({}),
  subscribe: async function* () {},
};

async function serveConnect(): Promise<{ port: number; close(): void }> {
  const server = http2.createServer(connectNodeAdapter({ routes: (router) => router.service(LocationService, impl) }));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { port: (server.address() as { port: number }).port, close: () => server.close() };
}

async function serveGrpc(): Promise<{ port: number; close(): void }> {
  const server = new grpc.Server();
  addServices(server, [registration(LocationService, impl, () => undefined)], {
    log: createLogger("bench-g0", "warn"),
    shutdownSignal: new AbortController().signal,
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return { port, close: () => server.forceShutdown() };
}

async function serveHeld(): Promise<{ port: number; close(): void }> {
  const held = new Set<http2.ServerHttp2Stream>();
  const server = http2.createServer();
  server.on("stream", (stream) => {
    held.add(stream);
    stream.on("close", () => held.delete(stream));
    stream.on("error", () => undefined);
    stream.respond({ ":status": 200, "content-type": "application/grpc" });
    // A SubscribeResponse saying caught_up (field 2, true).
    stream.write(Buffer.from([0, 0, 0, 0, 2, 0x10, 1]));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { port: (server.address() as { port: number }).port, close: () => server.close() };
}

/** `held` over HTTP/1.1: a Connect streaming response per request, one connection each. */
async function serveHeldHttp1(): Promise<{ port: number; close(): void }> {
  const server = http.createServer((req, res) => {
    req.resume();
    res.on("error", () => undefined);
    res.writeHead(200, { "content-type": "application/connect+proto" });
    // The same caught_up message, as a Connect stream envelope.
    res.write(Buffer.from([0, 0, 0, 0, 2, 0x10, 1]));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { port: (server.address() as { port: number }).port, close: () => server.close() };
}

const serve = { connect: serveConnect, grpc: serveGrpc, held: serveHeld, "held-http1": serveHeldHttp1 }[
  process.argv[2] ?? ""
];
const running = serve ? await serve() : undefined;
if (!running) {
  process.stderr.write("usage: empty-handlers.ts connect|grpc|held|held-http1\n");
  process.exit(2);
}
process.stdout.write(`port ${running.port}\n`);
process.on("SIGTERM", () => {
  running.close();
  process.exit(0);
});
