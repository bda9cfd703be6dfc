import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { SyncTarget, type IncomingPacket, type SyncRequest, type SyncResponseSchema } from "@seeme/contracts/location";
import { callerOf } from "@seeme/runtime/caller";
import { NOT_YOUR_CONNECTION, requireRoutes } from "../access.js";
import type { LocationContext } from "../context.js";
import type { Queryable } from "../db/client.js";
import { incomingPacket, readInbox, SERVER_PAIR_ID } from "../db/inbox.js";
import { ackServerMessages } from "../db/server-messages.js";
import { notifyInbox } from "../notify.js";
import { checkSyncRequest, type OutgoingBatch } from "../validate.js";

type SyncResponse = MessageInitShape<typeof SyncResponseSchema>;

interface Stored {
  /** Accepted per recipient pairID: stored now, or already stored or delivered by an earlier send. */
  received: Map<string, number[]>;
  /** Newly stored packets per recipient account, for the live push. */
  fresh: Map<string, IncomingPacket[]>;
}

/**
 * Stores outgoing packets once each. A packet id at or below the highest one
 * accepted for its pairID was sent before (packet ids increase per recipient
 * pairID, SPEC §2): it is reported as received but not stored again, so a
 * resend after delivery is not delivered twice.
 */
async function storePackets(tx: Queryable, accountId: string, outgoing: OutgoingBatch[], now: Date): Promise<Stored> {
  const stored: Stored = { received: new Map(), fresh: new Map() };
  if (outgoing.length === 0) return stored;
  const pairIds = outgoing.map((batch) => batch.pairId).sort();
  // Locked in a fixed order so concurrent senders to the same pairIDs cannot deadlock.
  const routes = await tx.$queryRaw<Array<{ pair_id: string; account_id: string; peer_pair_id: string; packet_life_ms: number; last_packet_id: bigint }>>`
    SELECT pair_id, account_id, peer_pair_id, packet_life_ms, last_packet_id FROM route
     WHERE pair_id = ANY(${pairIds}::text[]) AND peer_account_id = ${accountId}
     ORDER BY pair_id FOR UPDATE`;
  // A break committed since the access check.
  if (routes.length < pairIds.length) throw new ConnectError(NOT_YOUR_CONNECTION, Code.PermissionDenied);
  const byPair = new Map(routes.map((route) => [route.pair_id, route]));

  const rows = [];
  for (const batch of outgoing) {
    const route = byPair.get(batch.pairId)!;
    const expiresAt = new Date(now.getTime() + route.packet_life_ms);
    const fresh = batch.packets.filter((packet) => BigInt(packet.packetId) > route.last_packet_id);
    rows.push(...fresh.map((packet) => ({
      recipientPairId: batch.pairId, packetId: BigInt(packet.packetId), senderPairId: route.peer_pair_id,
      // Prisma's Bytes wants an ArrayBuffer-backed copy, not a view into the request buffer.
      blob: new Uint8Array(packet.blob), storedAt: now, expiresAt,
    })));
    stored.received.set(batch.pairId, batch.packets.map((packet) => packet.packetId));
    if (fresh.length > 0) {
      const highest = fresh.reduce((max, packet) => Math.max(max, packet.packetId), 0);
      await tx.route.update({ where: { pairId: batch.pairId }, data: { lastPacketId: BigInt(highest) } });
    }
  }
  const inserted = await tx.packet.createManyAndReturn({ data: rows, skipDuplicates: true });
  for (const packet of inserted) {
    const recipient = byPair.get(packet.recipientPairId)!.account_id;
    const list = stored.fresh.get(recipient) ?? [];
    list.push(incomingPacket({ pairId: packet.recipientPairId, packetId: Number(packet.packetId), blob: packet.blob, storedAt: packet.storedAt, expiresAt: packet.expiresAt }));
    stored.fresh.set(recipient, list);
  }
  return stored;
}

/** Deletes acknowledged packets at once, keeping a receipt for each sender's next Sync. */
async function deleteAcknowledged(tx: Queryable, accountId: string, acks: Map<string, number[]>, now: Date): Promise<Map<string, number[]>> {
  const deleted = new Map<string, number[]>();
  for (const [pairId, ids] of acks) {
    if (pairId === SERVER_PAIR_ID) {
      deleted.set(pairId, await ackServerMessages(tx, accountId, ids));
      continue;
    }
    const gone = await tx.$queryRaw<Array<{ packet_id: bigint; sender_pair_id: string }>>`
      DELETE FROM packet WHERE recipient_pair_id = ${pairId} AND packet_id = ANY(${ids}::bigint[])
      RETURNING packet_id, sender_pair_id`;
    await tx.deliveryReceipt.createMany({
      data: gone.map((row) => ({ recipientPairId: pairId, packetId: row.packet_id, senderPairId: row.sender_pair_id, ackedAt: now })),
      skipDuplicates: true,
    });
    deleted.set(pairId, gone.map((row) => Number(row.packet_id)).sort((a, b) => a - b));
  }
  return deleted;
}

/** Receipts for packets the caller sent, reported once and then dropped. */
async function takeDeliveries(tx: Queryable, accountId: string): Promise<Map<string, number[]>> {
  const rows = await tx.$queryRaw<Array<{ recipient_pair_id: string; packet_id: bigint }>>`
    DELETE FROM delivery_receipt d USING route r
     WHERE r.pair_id = d.sender_pair_id AND r.account_id = ${accountId}
    RETURNING d.recipient_pair_id, d.packet_id`;
  const delivered = new Map<string, number[]>();
  for (const row of rows) delivered.set(row.recipient_pair_id, [...(delivered.get(row.recipient_pair_id) ?? []), Number(row.packet_id)]);
  for (const ids of delivered.values()) ids.sort((a, b) => a - b);
  return delivered;
}

/** Sync: acknowledge, send and receive in one transaction (SPEC §4). */
export function sync(ctx: LocationContext) {
  return async (req: SyncRequest, call: HandlerContext): Promise<SyncResponse> => {
    const accountId = callerOf(call);
    const checked = checkSyncRequest(req, ctx.config);
    if (checked.outgoingCount > 0) ctx.limits.sender.take(accountId, "packets sent by this account", checked.outgoingCount);
    await requireRoutes(ctx, accountId, checked.outgoing.map((batch) => batch.pairId), "sendTo");
    await requireRoutes(ctx, accountId, [...checked.acks.keys()].filter((pairId) => pairId !== SERVER_PAIR_ID), "receiveUnder");
    for (const batch of checked.outgoing) ctx.limits.recipient.take(batch.pairId, "packets to this pair_id", batch.packets.length);

    const now = ctx.now();
    const result = await ctx.db.$transaction(async (tx) => {
      const stored = await storePackets(tx, accountId, checked.outgoing, now);
      const deleted = await deleteAcknowledged(tx, accountId, checked.acks, now);
      const delivered = await takeDeliveries(tx, accountId);
      const page = await readInbox(tx, accountId, now, checked.pageSize + 1);
      return { stored, deleted, delivered, page };
    });
    for (const [recipient, packets] of result.stored.fresh) notifyInbox(ctx, recipient, packets);

    const senderPairs = [...new Set([...result.stored.received.keys(), ...[...result.delivered.keys()].sort()])];
    return {
      syncMeta: [
        ...senderPairs.map((pairId) => ({
          target: SyncTarget.SENDER,
          pairId,
          receivedPackets: result.stored.received.get(pairId) ?? [],
          deliveredPackets: result.delivered.get(pairId) ?? [],
        })),
        ...[...result.deleted].map(([pairId, ids]) => ({ target: SyncTarget.RECIPIENT, pairId, deletedPackets: ids })),
      ],
      data: result.page.slice(0, checked.pageSize).map((entry) => entry.packet),
      hasMore: result.page.length > checked.pageSize,
    };
  };
}
