import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { type Health, HealthCheckResponse_ServingStatus as Status } from "@seeme/contracts/health";
import type { GatewayContext } from "../context.js";

/**
 * grpc.health.v1 on the gateway's port, over gRPC, gRPC-web and Connect. The
 * gateway serves when every internal service it forwards to reports SERVING.
 */
export function healthService(context: GatewayContext, servedNames: string[]): ServiceImpl<typeof Health> {
  const known = new Set(["", ...servedNames]);
  const status = () => (context.monitor.isServing ? Status.SERVING : Status.NOT_SERVING);
  const checkKnown = (service: string) => {
    if (!known.has(service)) throw new ConnectError(`unknown service "${service}"`, Code.NotFound);
  };
  return {
    check(request) {
      checkKnown(request.service);
      return { status: status() };
    },
    async *watch(request, ctx: HandlerContext) {
      checkKnown(request.service);
      let last = status();
      yield { status: last };
      const changes: Status[] = [];
      let wake: (() => void) | undefined;
      const unsubscribe = context.monitor.onChange(() => {
        changes.push(status());
        wake?.();
      });
      ctx.signal.addEventListener("abort", () => wake?.(), { once: true });
      try {
        while (!ctx.signal.aborted) {
          if (changes.length === 0)
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
          for (const next of changes.splice(0)) {
            if (next !== last) {
              last = next;
              yield { status: next };
            }
          }
        }
      } finally {
        unsubscribe();
      }
    },
    list() {
      return { statuses: Object.fromEntries([...known].map((name) => [name, { status: status() }])) };
    },
  };
}
