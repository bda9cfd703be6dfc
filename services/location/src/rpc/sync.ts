import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { SyncTarget, type IncomingPacket, type SyncRequest, type SyncResponseSchema } from "@seeme/contracts/location";
import { callerOf } from "@seeme/runtime/caller";
import { NOT_YOUR_CONNECTION, requireRoutes } from "../access.js";
import type { LocationContext } from "../context.js";
import { isConflictAbort } from "../db/client.js";
import { incomingPacket, SERVER_PAIR_ID } from "../db/inbox.js";
import { ackServerMessages } from "../db/server-messages.js";
import { applySync, type SyncInput, type SyncOutcome } from "../db/sync.js";
import { notifyInbox } from "../notify.js";
import { checkSyncRequest, type CheckedSync } from "../validate.js";

type SyncResponse = MessageInitShape<typeof SyncResponseSchema>;

// Enough for every sender a replica serves; older entries are forgotten first.
const REMEMBERED_SENDERS = 100_000;

/**
 * (sender account, recipient pairID) pairs this replica has seen pass the
 * access check. It never grants access (the Sync statement checks every route
 * itself); it only lets a known sender's recipient limits be taken before that
 * statement, so a refused request still takes nothing from a pairID's budget
 * unless its caller was once allowed to send there.
 */
class KnownSenders {
  private readonly keys = new Set<string>();

  has(accountId: string, pairIds: string[]): boolean {
    return pairIds.every((pairId) => this.keys.has(`${accountId}/${pairId}`));
  }

  add(accountId: string, pairIds: string[]): void {
    for (const pairId of pairIds) {
      this.keys.add(`${accountId}/${pairId}`);
      if (this.keys.size > REMEMBERED_SENDERS) this.keys.delete(this.keys.values().next().value!);
    }
  }
}

function syncInput(accountId: string, checked: CheckedSync, skipIncoming: boolean, now: Date): SyncInput {
  const acks = [...checked.acks].filter(([pairId]) => pairId !== SERVER_PAIR_ID);
  return {
    accountId,
    now,
    outgoing: checked.outgoing.flatMap((batch) => batch.packets.map((packet) => ({ pairId: batch.pairId, ...packet }))),
    sendTo: checked.outgoing.map((batch) => batch.pairId),
    acks: acks.flatMap(([pairId, ids]) => ids.map((packetId) => ({ pairId, packetId }))),
    receiveUnder: acks.map(([pairId]) => pairId),
    serverAcks: checked.acks.get(SERVER_PAIR_ID) ?? [],
    inboxLimit: skipIncoming ? null : checked.pageSize + 1,
  };
}

/**
 * Runs the Sync statement; server message acks join it in one transaction.
 * PostgreSQL may cancel it to break a deadlock (or a serialization conflict)
 * with a concurrent change of the same routes: nothing was applied then, and
 * the client's retry will go through, so the answer is Unavailable.
 */
async function apply(ctx: LocationContext, input: SyncInput): Promise<{ outcome: SyncOutcome; serverAcked: number[] }> {
  try {
    if (input.serverAcks.length === 0) return { outcome: await applySync(ctx.db, input), serverAcked: [] };
    return await ctx.db.$transaction(async (tx) => {
      const outcome = await applySync(tx, input);
      const serverAcked = outcome.allowed ? await ackServerMessages(tx, input.accountId, input.serverAcks) : [];
      return { outcome, serverAcked };
    });
  } catch (error) {
    if (isConflictAbort(error)) throw new ConnectError("a concurrent change to the same connections got in the way; retry", Code.Unavailable);
    throw error;
  }
}

function groupIds(entries: Array<{ pairId: string; packetId: number }>): Map<string, number[]> {
  const grouped = new Map<string, number[]>();
  for (const { pairId, packetId } of entries) {
    const ids = grouped.get(pairId);
    if (ids) ids.push(packetId);
    else grouped.set(pairId, [packetId]);
  }
  for (const ids of grouped.values()) ids.sort((a, b) => a - b);
  return grouped;
}

/** Sync: acknowledge, send and receive atomically (SPEC §4). */
export function sync(ctx: LocationContext) {
  const knownSenders = new KnownSenders();
  return async (req: SyncRequest, call: HandlerContext): Promise<SyncResponse> => {
    const accountId = callerOf(call);
    const checked = checkSyncRequest(req, ctx.config);
    if (checked.outgoingCount > 0) ctx.limits.sender.take(accountId, "packets sent by this account", checked.outgoingCount);
    const input = syncInput(accountId, checked, req.skipIncoming, ctx.now());
    const takeRecipientLimits = () => {
      for (const batch of checked.outgoing) ctx.limits.recipient.take(batch.pairId, "packets to this pair_id", batch.packets.length);
    };
    // The projection may lag: access is checked (and the routes refreshed) the slow way
    // before a new sender's limits are taken, or after the statement refused a known one.
    const requireAccess = async () => {
      await requireRoutes(ctx, accountId, input.sendTo, "sendTo");
      await requireRoutes(ctx, accountId, input.receiveUnder, "receiveUnder");
    };

    const known = knownSenders.has(accountId, input.sendTo);
    if (!known) await requireAccess();
    takeRecipientLimits();
    let { outcome, serverAcked } = await apply(ctx, input);
    if (!outcome.allowed && known) {
      await requireAccess();
      ({ outcome, serverAcked } = await apply(ctx, input));
    }
    // A break committed since the access check.
    if (!outcome.allowed) throw new ConnectError(NOT_YOUR_CONNECTION, Code.PermissionDenied);
    knownSenders.add(accountId, input.sendTo);

    const blobs = new Map(input.outgoing.map((packet) => [`${packet.pairId}/${packet.packetId}`, packet.blob]));
    const urgent = new Set(input.outgoing.filter((packet) => packet.urgent).map((packet) => `${packet.pairId}/${packet.packetId}`));
    const fresh = new Map<string, IncomingPacket[]>();
    const urgentFor = new Set<string>();
    for (const packet of outcome.stored) {
      const list = fresh.get(packet.accountId) ?? [];
      list.push(incomingPacket({ ...packet, blob: blobs.get(`${packet.pairId}/${packet.packetId}`), storedAt: input.now }));
      fresh.set(packet.accountId, list);
      if (urgent.has(`${packet.pairId}/${packet.packetId}`)) urgentFor.add(packet.accountId);
    }
    for (const [recipient, packets] of fresh) notifyInbox(ctx, recipient, packets, urgentFor.has(recipient));

    const received = new Map(checked.outgoing.map((batch) => [batch.pairId, batch.packets.map((packet) => packet.packetId)]));
    const delivered = groupIds(outcome.delivered);
    const deleted = groupIds(outcome.deleted);
    const senderPairs = [...new Set([...received.keys(), ...[...delivered.keys()].sort()])];
    return {
      syncMeta: [
        ...senderPairs.map((pairId) => ({
          target: SyncTarget.SENDER,
          pairId,
          receivedPackets: received.get(pairId) ?? [],
          deliveredPackets: delivered.get(pairId) ?? [],
        })),
        ...[...checked.acks.keys()].map((pairId) => ({
          target: SyncTarget.RECIPIENT,
          pairId,
          deletedPackets: pairId === SERVER_PAIR_ID ? serverAcked : deleted.get(pairId) ?? [],
        })),
      ],
      data: outcome.inbox.slice(0, checked.pageSize).map((entry) => entry.packet),
      hasMore: outcome.inbox.length > checked.pageSize,
    };
  };
}
