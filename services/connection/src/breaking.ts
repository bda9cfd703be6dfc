import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { BreakReason } from "@seeme/contracts/connection";
import type { Connection, Tx } from "./db/client.js";
import { recordEvent } from "@seeme/runtime/outbox";
import { toRoute } from "./routes.js";

/**
 * Removes a connection and records connection.v1.connection.broken in the same
 * transaction. Returns false when another transaction removed it first, so a
 * race never emits two events. The pairIDs stay in used_pair_ids for good.
 */
export async function breakConnection(
  tx: Tx,
  connection: Connection,
  by: { accountId: string; reason: BreakReason; at: Date },
): Promise<boolean> {
  const { count } = await tx.connection.deleteMany({ where: { id: connection.id } });
  if (count === 0) return false;
  await recordEvent(tx, "connectionBroken", {
    route: toRoute(connection),
    brokenByAccountId: by.accountId,
    reason: by.reason,
    breakTime: timestampFromDate(by.at),
  });
  return true;
}
