import type { ServiceRegistration } from "@seeme/runtime/grpc";
import type { Probe } from "@seeme/runtime/health";
import { startGrpcHost } from "@seeme/runtime/host";
import { createLogger } from "@seeme/runtime/logger";
import { createMetrics } from "@seeme/runtime/metrics";

export interface FakeService {
  /** host:port to point the service under test at. */
  address: string;
  stop(): Promise<void>;
}

/**
 * The one fake gRPC dependency: a real grpc-js server on 127.0.0.1 and a free
 * port, serving the registrations a test gives (with their real guards), so the
 * service under test meets real transport, metadata and status codes.
 */
export async function startFakeService(
  name: string,
  registrations: ServiceRegistration[],
  options: { probes?: Record<string, Probe>; healthIntervalMs?: number } = {},
): Promise<FakeService> {
  const host = await startGrpcHost({
    name,
    host: "127.0.0.1",
    port: 0,
    log: createLogger(name, process.env.TEST_LOG_LEVEL ?? "silent"),
    metrics: createMetrics(name),
    healthIntervalMs: options.healthIntervalMs ?? 60_000,
    shutdownTimeoutMs: 1000,
    // What its gRPC health reports follows these (a test can make the fake "unhealthy").
    probes: options.probes ?? {},
    cleanup: [],
    registrations,
  });
  return { address: `127.0.0.1:${host.port}`, stop: host.stop };
}
