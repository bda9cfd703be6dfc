import type { ConnectionBroken } from "@seeme/contracts/connection";
import type { EventMeta } from "@seeme/runtime/nats";
import type { LocationContext } from "../context.js";
import { revokePairs } from "../db/routes.js";
import { NOTICE } from "../db/server-messages.js";
import { applyOnce } from "./apply-once.js";
import { queueNotice } from "./notice.js";

/**
 * A broken connection: both pairIDs stop routing for good and their queues are
 * purged; the side that did not break it gets 5/5 with its peer's pairID.
 * BreakConnection usually revoked the pairIDs already (RevokePairs); the event
 * is the durable path, and the one that queues the notice.
 */
export function onConnectionBroken(ctx: LocationContext) {
  return (event: ConnectionBroken, meta: EventMeta) =>
    applyOnce(ctx, event.eventId, meta, async (tx, now) => {
      const route = event.route;
      if (!route) return [];
      await revokePairs(tx, [route.initiatorPairId, route.recipientPairId], now);
      const sides = [
        { accountId: route.initiatorAccountId, peerPairId: route.recipientPairId },
        { accountId: route.recipientAccountId, peerPairId: route.initiatorPairId },
      ];
      const notices = [];
      for (const side of sides) {
        if (side.accountId !== event.brokenByAccountId)
          notices.push(await queueNotice(tx, side.accountId, NOTICE.broken, side.peerPairId, now));
      }
      return notices;
    });
}
