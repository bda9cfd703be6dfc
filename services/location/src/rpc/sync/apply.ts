import { Code, ConnectError } from "@connectrpc/connect";
import type { LocationContext } from "../../context.js";
import { isConflictAbort } from "../../db/client.js";
import { SERVER_PAIR_ID } from "../../db/inbox.js";
import { ackServerMessages } from "../../db/server-messages.js";
import { applySync, type SyncInput } from "../../db/sync.js";
import type { CheckedSync } from "../../validate.js";
import type { Applied } from "./authorise.js";

/** The checked request as the Sync statement's input. */
export function syncInput(accountId: string, checked: CheckedSync, skipIncoming: boolean, now: Date): SyncInput {
  const acks = [...checked.acks].filter(([pairId]) => pairId !== SERVER_PAIR_ID);
  return {
    accountId,
    now,
    outgoing: checked.outgoing.flatMap((batch) => batch.packets.map((packet) => ({ pairId: batch.pairId, ...packet }))),
    sendTo: checked.outgoing.map((batch) => batch.pairId),
    acks: acks.flatMap(([pairId, ids]) => ids.map((packetId) => ({ pairId, packetId }))),
    receiveUnder: acks.map(([pairId]) => pairId),
    receiptsSeen: [...checked.receiptsSeen].flatMap(([pairId, ids]) => ids.map((packetId) => ({ pairId, packetId }))),
    serverAcks: checked.acks.get(SERVER_PAIR_ID) ?? [],
    inboxLimit: skipIncoming ? null : checked.pageSize + 1,
  };
}

/**
 * Stage 2 of Sync: runs the Sync statement; server message acks join it in one
 * transaction. PostgreSQL may cancel it to break a deadlock (or a serialization
 * conflict) with a concurrent change of the same routes: nothing was applied
 * then, and the client's retry will go through, so the answer is Unavailable.
 */
export async function applyStage(ctx: LocationContext, input: SyncInput): Promise<Applied> {
  try {
    if (input.serverAcks.length === 0) return { outcome: await applySync(ctx.db, input), serverAcked: [] };
    return await ctx.db.$transaction(async (tx) => {
      const outcome = await applySync(tx, input);
      const serverAcked = outcome.allowed ? await ackServerMessages(tx, input.accountId, input.serverAcks) : [];
      return { outcome, serverAcked };
    });
  } catch (error) {
    if (isConflictAbort(error))
      throw new ConnectError("a concurrent change to the same connections got in the way; retry", Code.Unavailable);
    throw error;
  }
}
