import { Code, ConnectError } from "@connectrpc/connect";
import type { LocationContext } from "./context.js";
import type { Route } from "./db/generated/client.js";
import { saveRoutes } from "./db/routes.js";

/**
 * One fixed answer whether a pairID does not exist or belongs to someone else,
 * so a caller cannot probe which pairIDs exist.
 */
export const NOT_YOUR_CONNECTION = "pair_id is not one of your connections";

/**
 * The projection may lag the connection service (an event not yet consumed, or
 * a lost projection being rebuilt): ask it for the caller's routes and cache them.
 */
async function refreshAccountRoutes(ctx: LocationContext, accountId: string): Promise<boolean> {
  if (!ctx.limits.routeLookup.tryTake(accountId)) return false;
  let routes;
  try {
    ({ routes } = await ctx.connections.listAccountRoutes({ accountId }));
  } catch (err) {
    ctx.log.warn({ err: err instanceof Error ? err.message : String(err) }, "route fallback lookup failed");
    throw new ConnectError("cannot verify connections right now; retry later", Code.Unavailable);
  }
  await ctx.db.$transaction((tx) => saveRoutes(tx, routes));
  return true;
}

type Side = "sendTo" | "receiveUnder";

async function findRoutes(
  ctx: LocationContext,
  accountId: string,
  pairIds: string[],
  side: Side,
): Promise<Map<string, Route>> {
  const owner = side === "sendTo" ? { peerAccountId: accountId } : { accountId };
  const rows = await ctx.db.route.findMany({ where: { pairId: { in: pairIds }, ...owner } });
  return new Map(rows.map((row) => [row.pairId, row]));
}

/**
 * The routes behind `pairIds`, all of which the caller must be allowed to use
 * on `side`; PermissionDenied (one fixed message) otherwise.
 */
export async function requireRoutes(
  ctx: LocationContext,
  accountId: string,
  pairIds: string[],
  side: Side,
): Promise<Map<string, Route>> {
  if (pairIds.length === 0) return new Map();
  let found = await findRoutes(ctx, accountId, pairIds, side);
  if (found.size < pairIds.length && (await refreshAccountRoutes(ctx, accountId))) {
    found = await findRoutes(ctx, accountId, pairIds, side);
  }
  if (found.size < pairIds.length) throw new ConnectError(NOT_YOUR_CONNECTION, Code.PermissionDenied);
  return found;
}
