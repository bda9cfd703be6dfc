import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { AccountKeyRotated } from "@seeme/contracts/identity";
import type { LocationContext } from "../context.js";
import { removeAccountSubscriptions } from "./store.js";

/**
 * A key rotation ends every session of the account (identity), so the push
 * subscriptions bound to them end too; the browser registers again after it
 * signs in with the new key. Only those registered before the rotation go, so
 * a redelivered event never removes a registration made with a new session.
 */
export function onAccountKeyRotated(ctx: LocationContext) {
  return async (event: AccountKeyRotated) => {
    await removeAccountSubscriptions(
      ctx.db,
      event.accountId,
      event.rotateTime ? timestampDate(event.rotateTime) : ctx.now(),
    );
  };
}
