/**
 * BreakConnection: either side removes the connection by naming its own pairID.
 * connection.v1.connection.broken is recorded in the same transaction (the other
 * side's type 5 / sub-type 5 notice; the relay purges both queues). Both pairIDs
 * stay used forever.
 *
 * Immediate at the relay: inside the transaction that removes the connection,
 * location's RevokePairs retires both pairIDs and purges their queues, so when
 * this answers OK no send or read under them is accepted any more. If the relay
 * cannot be reached, the transaction rolls back and the caller gets Unavailable
 * (retry); a revocation applied just before a failed commit is harmless (the
 * retry completes the break). The event stays the durable path and brings the
 * peer its notice.
 *
 * Refusals (nothing is written for any of them):
 *   Unauthenticated     no verified caller
 *   InvalidArgument     pair_id is not 40 × [A-Za-z0-9]
 *   NotFound            no connection in which the caller receives under pair_id —
 *                       the same answer whether it does not exist or is someone
 *                       else's, so a break reveals nothing about other accounts
 *   Unavailable         the relay could not apply the break; nothing changed, retry
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import {
  BreakReason,
  type BreakConnectionRequest,
  type BreakConnectionResponseSchema,
} from "@seeme/contracts/connection";
import { callerOf } from "@seeme/runtime/caller";
import { breakConnection as removeConnection } from "../breaking.js";
import type { ConnectionContext } from "../context.js";
import { requirePairId } from "../validate.js";

/** Applies the break at the relay; any failure aborts the caller's transaction as Unavailable. */
async function revokeAtRelay(ctx: ConnectionContext, pairIds: string[]): Promise<void> {
  try {
    // Inside the transaction: well under its 5 s limit.
    await ctx.location.revokePairs({ pairIds }, { timeoutMs: 3000 });
  } catch (error) {
    const code = error instanceof ConnectError ? Code[error.code] : "unknown";
    ctx.log.warn({ code }, "location RevokePairs failed");
    throw new ConnectError("the relay could not apply the break right now; nothing changed, retry", Code.Unavailable);
  }
}

export function breakConnection(ctx: ConnectionContext) {
  return async (
    req: BreakConnectionRequest,
    hctx: HandlerContext,
  ): Promise<MessageInitShape<typeof BreakConnectionResponseSchema>> => {
    const accountId = callerOf(hctx);
    const pairId = requirePairId("pair_id", req.pairId);
    const at = ctx.now();
    const broken = await ctx.db.$transaction(async (tx) => {
      const connection = await tx.connection.findFirst({
        where: {
          OR: [
            { initiatorPairId: pairId, initiatorAccountId: accountId },
            { recipientPairId: pairId, recipientAccountId: accountId },
          ],
        },
      });
      if (
        connection === null ||
        !(await removeConnection(tx, connection, { accountId, reason: BreakReason.REQUESTED, at }))
      )
        return false;
      await revokeAtRelay(ctx, [connection.initiatorPairId, connection.recipientPairId]);
      return true;
    });
    if (!broken) throw new ConnectError("no connection of yours with this pair_id", Code.NotFound);
    ctx.publishEvents();
    return { breakTime: timestampFromDate(at) };
  };
}
