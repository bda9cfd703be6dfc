import type { AccountDeleted } from "@seeme/contracts/identity";
import type { EventMeta } from "@seeme/runtime/nats";
import type { LocationContext } from "../context.js";
import { lockConnection, retirePairs } from "../db/routes.js";
import { deleteOrphanedMessages } from "../db/server-messages.js";
import { applyOnce } from "./apply-once.js";

/**
 * An erased account: its connections stop routing and their queues are purged
 * (both sides, as a break would), and its server messages and Web Push
 * subscriptions go. The connection
 * service's break events, which notify the peers, follow separately.
 *
 * Lock order: the connections' projection locks (by connection id, as each
 * break or lookup takes one of them), then every route row of those
 * connections in pairID order, as Sync locks them, before deleting any.
 * Deleting connection by connection used to hold one route while waiting for
 * another that a Sync of the same account held, waiting for the first.
 */
export function onAccountDeleted(ctx: LocationContext) {
  return (event: AccountDeleted, meta: EventMeta) =>
    applyOnce(ctx, event.eventId, meta, async (tx, now) => {
      const routes = await tx.route.findMany({ where: { accountId: event.accountId }, orderBy: { connectionId: "asc" } });
      for (const route of routes) await lockConnection(tx, route.connectionId);
      const pairIds = routes.flatMap((route) => [route.pairId, route.peerPairId]);
      if (pairIds.length > 0) {
        await tx.$queryRaw`SELECT pair_id FROM route WHERE pair_id = ANY(${pairIds}::text[]) ORDER BY pair_id FOR UPDATE`;
        await retirePairs(tx, pairIds, now);
      }
      await tx.serverMessageRecipient.deleteMany({ where: { accountId: event.accountId } });
      await tx.serverMessageAck.deleteMany({ where: { accountId: event.accountId } });
      await tx.pushSubscription.deleteMany({ where: { accountId: event.accountId } });
      await deleteOrphanedMessages(tx);
      return [];
    });
}
