import type { AccountDeleted } from "@seeme/contracts/identity";
import type { EventMeta } from "@seeme/runtime/nats";
import type { LocationContext } from "../context.js";
import { revokeAccount } from "../db/routes.js";
import { deleteOrphanedMessages } from "../db/server-messages.js";
import { applyOnce } from "./apply-once.js";

/**
 * An erased account: its connections stop routing and their queues are purged
 * (both sides, as a break would), and its server messages and Web Push
 * subscriptions go. The connection
 * service's break events, which notify the peers, follow separately.
 *
 * Usually identity's DeleteAccount already applied this through
 * RevokeAccount; the event is the durable path (and covers a missed call).
 * Lock order: see revokePairs. Deleting connection by connection used to hold
 * one route while waiting for another that a Sync of the same account held,
 * waiting for the first.
 */
export function onAccountDeleted(ctx: LocationContext) {
  return (event: AccountDeleted, meta: EventMeta) =>
    applyOnce(ctx, event.eventId, meta, async (tx, now) => {
      if (event.accountId !== "") await revokeAccount(tx, event.accountId, now);
      await tx.serverMessageRecipient.deleteMany({ where: { accountId: event.accountId } });
      await tx.serverMessageAck.deleteMany({ where: { accountId: event.accountId } });
      await tx.pushSubscription.deleteMany({ where: { accountId: event.accountId } });
      await deleteOrphanedMessages(tx);
      return [];
    });
}
