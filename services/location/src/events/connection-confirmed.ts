import type { ConnectionConfirmed } from "@seeme/contracts/connection";
import type { EventMeta } from "@seeme/runtime/nats";
import type { LocationContext } from "../context.js";
import { saveRoutes } from "../db/routes.js";
import { NOTICE } from "../db/server-messages.js";
import { applyOnce } from "./apply-once.js";
import { queueNotice } from "./notice.js";

/** A new connection: both sides become routable; the initiator gets 5/3 with the recipient's pairID. */
export function onConnectionConfirmed(ctx: LocationContext) {
  return (event: ConnectionConfirmed, meta: EventMeta) =>
    applyOnce(ctx, event.eventId, meta, async (tx, now) => {
      const route = event.route;
      if (!route) return [];
      await saveRoutes(tx, [route]);
      return [await queueNotice(tx, route.initiatorAccountId, NOTICE.confirmed, route.recipientPairId, now)];
    });
}
