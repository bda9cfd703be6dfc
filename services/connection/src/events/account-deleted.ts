import { BreakReason } from "@seeme/contracts/connection";
import type { AccountDeleted } from "@seeme/contracts/identity";
import { breakConnection } from "../breaking.js";
import { lockAccounts } from "../accounts.js";
import type { ConnectionContext } from "../context.js";

/**
 * identity.v1.account.deleted: every connection of the account is broken as if
 * requested (one connection.broken each, so the peers get their notice and the
 * relay purges the queues) and its invites are dropped, in one transaction.
 * The account id (nothing else) is recorded in deleted_accounts under the
 * account's lock, so an initiate or confirm racing this cannot leave the
 * account an invite or a connection (see accounts.ts).
 * Idempotent by construction: a redelivery finds nothing left to remove.
 */
export function onAccountDeleted(ctx: ConnectionContext) {
  return async (event: AccountDeleted): Promise<void> => {
    const accountId = event.accountId;
    if (accountId === "") {
      ctx.log.warn({ eventId: event.eventId }, "account.deleted without account_id ignored");
      return;
    }
    const at = ctx.now();
    const broken = await ctx.db.$transaction(async (tx) => {
      await lockAccounts(tx, [accountId]);
      await tx.deletedAccount.createMany({ data: [{ accountId }], skipDuplicates: true });
      const connections = await tx.connection.findMany({
        where: { OR: [{ initiatorAccountId: accountId }, { recipientAccountId: accountId }] },
        orderBy: { createdAt: "asc" },
      });
      let count = 0;
      for (const connection of connections) {
        if (await breakConnection(tx, connection, { accountId, reason: BreakReason.ACCOUNT_DELETED, at })) count++;
      }
      await tx.invite.deleteMany({ where: { initiatorAccountId: accountId } });
      return count;
    });
    ctx.log.info({ eventId: event.eventId, broken }, "connections of a deleted account removed");
    if (broken > 0) ctx.publishEvents();
  };
}
