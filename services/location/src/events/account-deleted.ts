import type { AccountDeleted } from "@seeme/contracts/identity";
import type { EventMeta } from "@seeme/runtime/nats";
import type { LocationContext } from "../context.js";
import { lockConnection, retirePairs } from "../db/routes.js";
import { deleteOrphanedMessages } from "../db/server-messages.js";
import { applyOnce } from "./apply-once.js";

/**
 * An erased account: its connections stop routing and their queues are purged
 * (both sides, as a break would), and its server messages go. The connection
 * service's break events, which notify the peers, follow separately.
 */
export function onAccountDeleted(ctx: LocationContext) {
  return (event: AccountDeleted, meta: EventMeta) =>
    applyOnce(ctx, event.eventId, meta, async (tx, now) => {
      const routes = await tx.route.findMany({ where: { accountId: event.accountId } });
      for (const route of routes) {
        await lockConnection(tx, route.connectionId);
        await retirePairs(tx, [route.pairId, route.peerPairId], now);
      }
      await tx.serverMessageRecipient.deleteMany({ where: { accountId: event.accountId } });
      await tx.serverMessageAck.deleteMany({ where: { accountId: event.accountId } });
      await deleteOrphanedMessages(tx);
      return [];
    });
}
