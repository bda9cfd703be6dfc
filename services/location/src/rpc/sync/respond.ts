import type { MessageInitShape } from "@bufbuild/protobuf";
import { SyncTarget, type SyncResponseSchema } from "@seeme/contracts/location";
import { SERVER_PAIR_ID } from "../../db/inbox.js";
import type { CheckedSync } from "../../validate.js";
import type { Applied } from "./authorise.js";

export type SyncResponse = MessageInitShape<typeof SyncResponseSchema>;

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

/**
 * Stage 4 of Sync: the response. Every outgoing packet is reported received
 * (stored now, or stored before: a resend), receipts per pairID the caller
 * sends to, deletions per pairID it receives under, and the inbox page.
 */
export function respond(checked: CheckedSync, { outcome, serverAcked }: Applied): SyncResponse {
  const received = new Map(
    checked.outgoing.map((batch) => [batch.pairId, batch.packets.map((packet) => packet.packetId)]),
  );
  const delivered = groupIds(outcome.delivered);
  const superseded = groupIds(outcome.superseded);
  const deleted = groupIds(outcome.deleted);
  const senderPairs = [
    ...new Set([...received.keys(), ...[...new Set([...delivered.keys(), ...superseded.keys()])].sort()]),
  ];
  return {
    syncMeta: [
      ...senderPairs.map((pairId) => ({
        target: SyncTarget.SENDER,
        pairId,
        receivedPackets: received.get(pairId) ?? [],
        deliveredPackets: delivered.get(pairId) ?? [],
        supersededPackets: superseded.get(pairId) ?? [],
      })),
      ...[...checked.acks.keys()].map((pairId) => ({
        target: SyncTarget.RECIPIENT,
        pairId,
        deletedPackets: pairId === SERVER_PAIR_ID ? serverAcked : (deleted.get(pairId) ?? []),
      })),
    ],
    data: outcome.inbox.slice(0, checked.pageSize).map((entry) => entry.packet),
    hasMore: outcome.inbox.length > checked.pageSize,
  };
}
