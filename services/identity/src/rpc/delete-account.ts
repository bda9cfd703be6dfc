import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { DeleteAccountRequest, DeleteAccountResponseSchema } from "@seeme/contracts/identity";
import { ACCOUNT_GONE, callerId } from "../caller-account.js";
import type { IdentityContext } from "../context.js";
import { recordEvent } from "@seeme/runtime/outbox";

/**
 * DeleteAccount: the account, its sessions and challenges go, and
 * identity.v1.account.deleted is recorded in the same transaction.
 *
 * Immediate at the relay: inside that transaction location's RevokeAccount
 * retires every pairID of the account's connections and purges their queues,
 * so when this answers no send or read under them is accepted. If the relay
 * cannot be reached the transaction rolls back (Unavailable, retry). The event
 * stays the durable path (connection breaks the connections, peers get notices).
 *
 * Refusals: Unauthenticated (no caller, or the account is already gone);
 * Unavailable (the relay could not apply it; nothing changed, retry).
 */
export function deleteAccount(ctx: IdentityContext) {
  return async (
    _req: DeleteAccountRequest,
    hctx: HandlerContext,
  ): Promise<MessageInitShape<typeof DeleteAccountResponseSchema>> => {
    const accountId = callerId(hctx);
    const now = ctx.now();
    await ctx.db.$transaction(async (tx) => {
      // Sessions and challenges go with the account (ON DELETE CASCADE). Only the
      // transaction that actually removed the row writes the event: exactly once.
      const { count } = await tx.account.deleteMany({ where: { id: accountId } });
      if (count !== 1) throw new ConnectError(ACCOUNT_GONE, Code.Unauthenticated);
      await recordEvent(tx, "accountDeleted", { accountId, deleteTime: timestampFromDate(now) }, { createdAt: now });
      try {
        // Inside the transaction: well under its 5 s limit.
        await ctx.location.revokeAccount({ accountId }, { timeoutMs: 3000 });
      } catch (error) {
        const code = error instanceof ConnectError ? Code[error.code] : "unknown";
        ctx.log.warn({ code }, "location RevokeAccount failed");
        throw new ConnectError(
          "the relay could not apply the deletion right now; nothing changed, retry",
          Code.Unavailable,
        );
      }
    });
    ctx.publishEvents();
    ctx.log.info({ accountId }, "account deleted");
    return { deleteTime: timestampFromDate(now) };
  };
}
