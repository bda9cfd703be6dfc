import type { HandlerContext } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type {
  UnregisterPushSubscriptionRequest,
  UnregisterPushSubscriptionResponseSchema,
} from "@seeme/contracts/location";
import { callerOf } from "@seeme/runtime/caller";
import type { LocationContext } from "../context.js";
import { removeSubscription } from "./store.js";

/** UnregisterPushSubscription: removes one of the caller's subscriptions (sign-out); unknown ones are not an error. */
export function unregisterPushSubscription(ctx: LocationContext) {
  return async (
    req: UnregisterPushSubscriptionRequest,
    call: HandlerContext,
  ): Promise<MessageInitShape<typeof UnregisterPushSubscriptionResponseSchema>> => {
    await removeSubscription(ctx.db, callerOf(call), req.endpoint);
    return {};
  };
}
