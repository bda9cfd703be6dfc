/**
 * BreakConnection: either side removes the connection by naming its own pairID.
 * connection.v1.connection.broken is recorded in the same transaction (the other
 * side's type 5 / sub-type 5 notice; the relay purges both queues). Both pairIDs
 * stay used forever.
 *
 * Refusals (nothing is written for any of them):
 *   Unauthenticated     no verified caller
 *   InvalidArgument     pair_id is not 40 × [A-Za-z0-9]
 *   NotFound            no connection in which the caller receives under pair_id —
 *                       the same answer whether it does not exist or is someone
 *                       else's, so a break reveals nothing about other accounts
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { BreakReason, type BreakConnectionRequest, type BreakConnectionResponseSchema } from "@seeme/contracts/connection";
import { callerOf } from "@seeme/runtime/caller";
import { breakConnection as removeConnection } from "../breaking.js";
import type { ConnectionContext } from "../context.js";
import { requirePairId } from "../validate.js";

export function breakConnection(ctx: ConnectionContext) {
  return async (req: BreakConnectionRequest, hctx: HandlerContext): Promise<MessageInitShape<typeof BreakConnectionResponseSchema>> => {
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
      return connection !== null && removeConnection(tx, connection, { accountId, reason: BreakReason.REQUESTED, at });
    });
    if (!broken) throw new ConnectError("no connection of yours with this pair_id", Code.NotFound);
    ctx.publishEvents();
    return { breakTime: timestampFromDate(at) };
  };
}
