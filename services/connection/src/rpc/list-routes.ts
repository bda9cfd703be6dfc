/**
 * ListRoutes (internal): pages through every connection in id order, so the
 * relay can rebuild its projection. The page token is the last id of the
 * previous page (keyset paging: stable while connections come and go).
 * Refusals: PermissionDenied (not a see-me service), InvalidArgument (bad page_token).
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ListRoutesRequest, ListRoutesResponseSchema } from "@seeme/contracts/connection";
import type { ConnectionContext } from "../context.js";
import { toRoute } from "../routes.js";

const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 1000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function afterId(token: string): string | undefined {
  if (token === "") return undefined;
  const id = Buffer.from(token, "base64url").toString("utf8");
  if (!UUID.test(id))
    throw new ConnectError("page_token is not a token from a previous ListRoutes", Code.InvalidArgument);
  return id;
}

export function listRoutes(ctx: ConnectionContext) {
  return async (req: ListRoutesRequest): Promise<MessageInitShape<typeof ListRoutesResponseSchema>> => {
    const pageSize = Math.min(req.pageSize || DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
    const after = afterId(req.pageToken);
    const rows = await ctx.db.connection.findMany({
      where: after === undefined ? {} : { id: { gt: after } },
      orderBy: { id: "asc" },
      take: pageSize + 1,
    });
    const page = rows.slice(0, pageSize);
    const more = rows.length > pageSize;
    return {
      routes: page.map(toRoute),
      nextPageToken: more ? Buffer.from(page[page.length - 1].id).toString("base64url") : "",
    };
  };
}
