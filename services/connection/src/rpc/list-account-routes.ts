/**
 * ListAccountRoutes (internal): every connection an account is a side of, for
 * the relay's fallback when its projection misses a route.
 * Refusals: PermissionDenied (not a see-me service), InvalidArgument (empty account_id).
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ListAccountRoutesRequest, ListAccountRoutesResponseSchema } from "@seeme/contracts/connection";
import type { ConnectionContext } from "../context.js";
import { toRoute } from "../routes.js";

export function listAccountRoutes(ctx: ConnectionContext) {
  return async (req: ListAccountRoutesRequest): Promise<MessageInitShape<typeof ListAccountRoutesResponseSchema>> => {
    if (req.accountId === "") throw new ConnectError("account_id is required", Code.InvalidArgument);
    const rows = await ctx.db.connection.findMany({
      where: { OR: [{ initiatorAccountId: req.accountId }, { recipientAccountId: req.accountId }] },
      orderBy: { id: "asc" },
    });
    return { routes: rows.map(toRoute) };
  };
}
