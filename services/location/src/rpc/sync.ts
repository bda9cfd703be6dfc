import type { HandlerContext } from "@connectrpc/connect";
import type { SyncRequest } from "@seeme/contracts/location";
import { callerOf } from "@seeme/runtime/caller";
import type { LocationContext } from "../context.js";
import { checkSyncRequest } from "../validate.js";
import { applyStage, syncInput } from "./sync/apply.js";
import { createAuthoriser } from "./sync/authorise.js";
import { notifyStored } from "./sync/notify.js";
import { respond, type SyncResponse } from "./sync/respond.js";

/**
 * Sync: acknowledge, send and receive atomically (SPEC §4, §8), in four
 * stages: authorise (limits, access; sync/authorise.ts) around apply (one
 * statement; sync/apply.ts, db/sync.ts), then notify (hints to Subscribe
 * streams; sync/notify.ts) and respond (sync/respond.ts). The request is
 * checked whole first (validate.ts), so a refused request changes nothing.
 */
export function sync(ctx: LocationContext) {
  const authorised = createAuthoriser(ctx);
  return async (req: SyncRequest, call: HandlerContext): Promise<SyncResponse> => {
    const accountId = callerOf(call);
    const now = ctx.now();
    const checked = checkSyncRequest(req, ctx.config, now);
    const input = syncInput(accountId, checked, req.skipIncoming, now);
    const applied = await authorised(input, checked, () => applyStage(ctx, input));
    notifyStored(ctx, input, applied.outcome);
    return respond(checked, applied);
  };
}
