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
 * transaction. Syncs arriving together (in one event-loop turn, by default) share one transaction and
 * commit (group commit, db/group-commit.ts); each still gets its own outcome.
 * PostgreSQL may cancel it to break a deadlock (or a serialization conflict)
 * with a concurrent change of the same routes: nothing was applied then, and
 * the client's retry will go through, so the answer is Unavailable.
 */
export async function applyStage(ctx: LocationContext, input: SyncInput): Promise<Applied> {
  try {
    return await ctx.syncs.run(input.accountId, input.serverAcks.length > 0, async (db) => {
      const outcome = await applySync(db, input);
      const serverAcked =
        outcome.allowed && input.serverAcks.length > 0
          ? await ackServerMessages(db, input.accountId, input.serverAcks)
          : [];
      return { outcome, serverAcked };
    });
  } catch (error) {
    if (isConflictAbort(error))
      throw new ConnectError("a concurrent change to the same connections got in the way; retry", Code.Unavailable);
    throw error;
  }
}
