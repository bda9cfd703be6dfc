import type { InviteExpired } from "@seeme/contracts/connection";
import type { EventMeta } from "@seeme/runtime/nats";
import type { LocationContext } from "../context.js";
import { NOTICE } from "../db/server-messages.js";
import { applyOnce } from "./apply-once.js";
import { queueNotice } from "./notice.js";

/** An unconfirmed invite expired: the initiator gets 5/4 with the invited pairID. */
export function onInviteExpired(ctx: LocationContext) {
  return (event: InviteExpired, meta: EventMeta) =>
    applyOnce(ctx, event.eventId, meta, async (tx, now) => [
      await queueNotice(tx, event.initiatorAccountId, NOTICE.expired, event.recipientPairId, now),
    ]);
}
