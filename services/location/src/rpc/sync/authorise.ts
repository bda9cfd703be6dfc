import { Code, ConnectError } from "@connectrpc/connect";
import { NOT_YOUR_CONNECTION, requireRoutes } from "../../access.js";
import { takeInOrder, type Take } from "@seeme/runtime/shared-limits";
import type { LocationContext } from "../../context.js";
import type { SyncInput, SyncOutcome } from "../../db/sync.js";
import type { CheckedSync } from "../../validate.js";

// Enough for every sender a replica serves; older entries are forgotten first.
const REMEMBERED_SENDERS = 100_000;

/**
 * (sender account, recipient pairID) pairs this replica has seen pass the
 * access check. It never grants access (the Sync statement checks every route
 * itself); it only lets a known sender's recipient limits be taken before that
 * statement, so a refused request still takes nothing from a pairID's budget
 * unless its caller was once allowed to send there.
 */
export class KnownSenders {
  private readonly keys = new Set<string>();

  constructor(private readonly limit = REMEMBERED_SENDERS) {}

  has(accountId: string, pairIds: string[]): boolean {
    return pairIds.every((pairId) => this.keys.has(`${accountId}/${pairId}`));
  }

  add(accountId: string, pairIds: string[]): void {
    for (const pairId of pairIds) {
      this.keys.add(`${accountId}/${pairId}`);
      if (this.keys.size > this.limit) this.keys.delete(this.keys.values().next().value!);
    }
  }
}

export type Applied = { outcome: SyncOutcome; serverAcked: number[] };

/**
 * Stage 1 of Sync, wrapped around stage 2 (apply): the rate limits, and the
 * access check. The statement itself refuses a pairID that is not the caller's
 * (allowed = false, nothing changed); the slow check here asks the connection
 * service when the projection may lag, before a new sender's limits are taken
 * or after the statement refused a known one. A refusal that stands is
 * PermissionDenied with one fixed message.
 */
export function createAuthoriser(ctx: LocationContext) {
  const knownSenders = new KnownSenders();
  return async (input: SyncInput, checked: CheckedSync, apply: () => Promise<Applied>): Promise<Applied> => {
    const { accountId } = input;
    const senderLimit: Take[] =
      checked.outgoingCount > 0
        ? [
            {
              limiter: ctx.limits.sender,
              key: accountId,
              what: "packets sent by this account",
              cost: checked.outgoingCount,
            },
          ]
        : [];
    const recipientLimits: Take[] = checked.outgoing.map((batch) => ({
      limiter: ctx.limits.recipient,
      key: batch.pairId,
      what: "packets to this pair_id",
      cost: batch.packets.length,
    }));
    const requireAccess = async () => {
      await requireRoutes(ctx, accountId, input.sendTo, "sendTo");
      await requireRoutes(ctx, accountId, input.receiveUnder, "receiveUnder");
    };

    const known = knownSenders.has(accountId, input.sendTo);
    // A known sender's limits in one statement (the hot path); a new one's recipients only after the access check.
    if (known) await takeInOrder([...senderLimit, ...recipientLimits]);
    else {
      await takeInOrder(senderLimit);
      await requireAccess();
      await takeInOrder(recipientLimits);
    }
    let applied = await apply();
    if (!applied.outcome.allowed && known) {
      await requireAccess();
      applied = await apply();
    }
    // A break committed since the access check.
    if (!applied.outcome.allowed) throw new ConnectError(NOT_YOUR_CONNECTION, Code.PermissionDenied);
    knownSenders.add(accountId, input.sendTo);
    return applied;
  };
}
