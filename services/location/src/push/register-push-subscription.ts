import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type {
  RegisterPushSubscriptionRequest,
  RegisterPushSubscriptionResponseSchema,
} from "@seeme/contracts/location";
import { callerOf, sessionOf } from "@seeme/runtime/caller";
import type { LocationContext } from "../context.js";
import { saveSubscription } from "./store.js";
import { checkRegistration } from "./validate.js";

/**
 * RegisterPushSubscription: stores the caller's browser subscription, bound to
 * the session the gateway vouches for, so it expires when that session does.
 */
export function registerPushSubscription(ctx: LocationContext) {
  return async (
    req: RegisterPushSubscriptionRequest,
    call: HandlerContext,
  ): Promise<MessageInitShape<typeof RegisterPushSubscriptionResponseSchema>> => {
    const accountId = callerOf(call);
    const config = ctx.config.push;
    if (!config)
      throw new ConnectError(
        "this server has no Web Push configured; keep a Subscribe stream open instead",
        Code.FailedPrecondition,
      );
    const session = sessionOf(ctx.config.internalAuthSecret, call);
    if (!session)
      throw new ConnectError(
        "push registration needs a signed-in session (call through the gateway)",
        Code.Unauthenticated,
      );
    const subscription = checkRegistration(req, config);
    const now = ctx.now();
    if (session.expiresAt <= now) throw new ConnectError("session ended; sign in again", Code.Unauthenticated);
    await saveSubscription(
      ctx.db,
      { accountId, sessionId: session.id, ...subscription, expiresAt: session.expiresAt },
      now,
    );
    ctx.pushAbsent.forget(accountId);
    return { expireTime: timestampFromDate(session.expiresAt) };
  };
}
