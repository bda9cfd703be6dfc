import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Metrics } from "@seeme/runtime/metrics";
import { isClientParseError } from "./public-errors.js";

/** Counts and times every public call, with the same metric names the internal services use. */
export function metricsInterceptor(metrics: Metrics): Interceptor {
  return (next) => async (request) => {
    const labels = { service: request.service.typeName, method: request.method.name };
    const started = performance.now();
    const record = (code: string) => {
      metrics.rpcHandled.inc({ ...labels, code });
      metrics.rpcSeconds.observe(labels, (performance.now() - started) / 1000);
    };
    try {
      const response = await next(request);
      // Streams are counted when they start; their length says nothing about the gateway's cost.
      record("OK");
      return response;
    } catch (error) {
      // Same label values as the grpc-js services ("INVALID_ARGUMENT"), so dashboards can join them.
      const code = isClientParseError(error) ? Code.InvalidArgument : ConnectError.from(error).code;
      record(Code[code].replace(/(?<=[a-z])(?=[A-Z])/g, "_").toUpperCase());
      throw error;
    }
  };
}
