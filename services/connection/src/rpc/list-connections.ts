/**
 * ListConnections: the caller's connections, newest first, each from the
 * caller's side (own pairID, peer pairID), with rekey_due once 90 days old.
 * Refusals: Unauthenticated (no verified caller).
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import type { ListConnectionsRequest, ListConnectionsResponseSchema } from "@seeme/contracts/connection";
import { callerOf } from "@seeme/runtime/caller";
import type { ConnectionContext } from "../context.js";
import { toConnectionView } from "../routes.js";

export function listConnections(ctx: ConnectionContext) {
  return async (
    _req: ListConnectionsRequest,
    hctx: HandlerContext,
  ): Promise<MessageInitShape<typeof ListConnectionsResponseSchema>> => {
    const accountId = callerOf(hctx);
    const rows = await ctx.db.connection.findMany({
      where: { OR: [{ initiatorAccountId: accountId }, { recipientAccountId: accountId }] },
      orderBy: [{ createdAt: "desc" }, { id: "asc" }],
    });
    const now = ctx.now();
    return { connections: rows.map((row) => toConnectionView(row, accountId, now)) };
  };
}
