import type { Queryable } from "../db/client.js";
import { SERVER_PAIR_ID } from "@seeme/contracts/protocol";
import { incomingPacket } from "../db/inbox.js";
import { MAX_RETENTION_MS } from "../db/retention.js";
import { CONNECTION_MANAGEMENT, insertServerMessage } from "../db/server-messages.js";
import type { Notices } from "./apply-once.js";

/** Queues a connection management notice (type 5) for one account; its text is the pairID it is about. */
export async function queueNotice(
  tx: Queryable,
  accountId: string,
  subType: number,
  pairId: string,
  now: Date,
): Promise<Notices[number]> {
  const expiresAt = new Date(now.getTime() + MAX_RETENTION_MS);
  const id = await insertServerMessage(tx, {
    type: CONNECTION_MANAGEMENT,
    subType,
    text: pairId,
    accountIds: [accountId],
    storedAt: now,
    expiresAt,
  });
  return {
    accountId,
    packet: incomingPacket({
      pairId: SERVER_PAIR_ID,
      packetId: id,
      type: CONNECTION_MANAGEMENT,
      subType,
      text: pairId,
      storedAt: now,
      expiresAt,
    }),
  };
}
