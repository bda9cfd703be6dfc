import { isAddressInUse, PortInUseError } from "./config.js";
import { createServer, type Server } from "node:http";
import { collectDefaultMetrics, Counter, Histogram, Registry } from "prom-client";

/**
 * One registry per service instance (not prom-client's global one) so several
 * services can run in one process, as they do in integration tests.
 */
export interface Metrics {
  registry: Registry;
  rpcHandled: Counter<"service" | "method" | "code">;
  rpcSeconds: Histogram<"service" | "method">;
}

export function createMetrics(service: string): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    rpcHandled: new Counter({
      name: "seeme_rpc_handled_total",
      help: "RPCs completed, by method and status code.",
      labelNames: ["service", "method", "code"],
      registers: [registry],
    }),
    rpcSeconds: new Histogram({
      name: "seeme_rpc_duration_seconds",
      help: "Time to the final response of an RPC.",
      labelNames: ["service", "method"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
  };
}

/** Serves GET /metrics in the Prometheus text format. Port 0 picks a free port. */
export async function startMetricsServer(
  registry: Registry,
  port: number,
  host = "0.0.0.0",
): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    if (req.url !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) => reject(isAddressInUse(error) ? new PortInUseError("METRICS_PORT", port) : error));
    server.listen(port, host, resolve);
  });
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
