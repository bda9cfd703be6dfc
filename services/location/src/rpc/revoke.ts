/**
 * LocationInternalService: connection's BreakConnection and identity's
 * DeleteAccount call these before answering their client, so a break or a
 * deletion is in force at the relay the moment the client hears it is done.
 * The NATS events stay the durable path (and queue the peers' notices).
 *
 * Refusals: PermissionDenied (no service credential, by the guard),
 * InvalidArgument (malformed pair_id, empty account_id), Unavailable (the
 * database cancelled the change to break a lock conflict; retry).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { RevokeAccountRequest, RevokePairsRequest } from "@seeme/contracts/location";
import type { LocationContext } from "../context.js";
import { isConflictAbort, type Queryable } from "../db/client.js";
import { revokeAccount as revokeAccountRoutes, revokePairs as revokePairRoutes } from "../db/routes.js";
import { isPairId } from "@seeme/contracts/protocol";

// A connection has two pairIDs; a few more leave room without letting one call lock the table.
const MAX_PAIR_IDS = 16;

async function inTransaction(ctx: LocationContext, apply: (tx: Queryable) => Promise<void>): Promise<void> {
  try {
    await ctx.db.$transaction(apply);
  } catch (error) {
    if (isConflictAbort(error))
      throw new ConnectError("a concurrent change to the same connections got in the way; retry", Code.Unavailable);
    throw error;
  }
}

export function revokePairs(ctx: LocationContext) {
  return async (req: RevokePairsRequest): Promise<Record<string, never>> => {
    if (req.pairIds.length === 0 || req.pairIds.length > MAX_PAIR_IDS) {
      throw new ConnectError(`pair_ids must list 1 to ${MAX_PAIR_IDS} pair_ids`, Code.InvalidArgument);
    }
    if (!req.pairIds.every((pairId) => isPairId(pairId))) {
      throw new ConnectError("pair_ids must be 40 characters of [A-Za-z0-9] each", Code.InvalidArgument);
    }
    await inTransaction(ctx, (tx) => revokePairRoutes(tx, [...new Set(req.pairIds)], ctx.now()));
    return {};
  };
}

export function revokeAccount(ctx: LocationContext) {
  return async (req: RevokeAccountRequest): Promise<Record<string, never>> => {
    if (req.accountId === "" || req.accountId.length > 128)
      throw new ConnectError("account_id is required", Code.InvalidArgument);
    await inTransaction(ctx, (tx) => revokeAccountRoutes(tx, req.accountId, ctx.now()));
    return {};
  };
}
