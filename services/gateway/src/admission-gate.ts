import type { HandlerContext } from "@connectrpc/connect";
import { Health } from "@seeme/contracts/health";
import type { Admission } from "@seeme/runtime/admission";

/**
 * Admission control at the gateway (see packages/runtime/src/admission.ts):
 * runs first in Connect's request gate, before the session check and before
 * the body is read, so a refused call costs almost nothing. Unary calls only:
 * health checks are always answered (load balancers must see the process
 * alive while it sheds), and live streams are long-lived, bounded per account
 * and kept alive by pings that never pass through here.
 */
export function admissionGate(
  admission: Admission,
  next: (ctx: HandlerContext) => Promise<void>,
): (ctx: HandlerContext) => Promise<void> {
  return async (ctx) => {
    if (ctx.method.methodKind === "unary" && ctx.service.typeName !== Health.typeName) {
      const release = await admission.acquire(ctx.signal);
      // Connect aborts the call's context when the call ends, however it ends
      // (answered, failed, body unreadable, client gone): the slot is freed then.
      if (ctx.signal.aborted) release();
      else ctx.signal.addEventListener("abort", release, { once: true });
    }
    return next(ctx);
  };
}
