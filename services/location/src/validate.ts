import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { Slot, type ReceivedPackets, type SyncRequest } from "@seeme/contracts/location";
import { isPairId, MAX_ACK_ENTRIES, MAX_ACKS_PER_SYNC, SERVER_PAIR_ID } from "@seeme/contracts/protocol";
import { invalid } from "@seeme/runtime/errors";
import type { LocationConfig } from "./config.js";
import { MAX_RETENTION_MS } from "./db/retention.js";

export interface OutgoingBatch {
  pairId: string;
  /** releaseAt is set only when it lies in the future (a held packet); slot 0 is none. */
  packets: Array<{ packetId: number; blob: Uint8Array; releaseAt: Date | null; slot: number; urgent: boolean }>;
}

const SLOTS = new Set<number>(Object.values(Slot).filter((value): value is number => typeof value === "number"));

/**
 * A release time as a Date: unset (or not after `now`) is null, which means
 * deliver now; more than seven days ahead, or beyond what a Date holds, is
 * refused.
 */
export function releaseTime(field: string, timestamp: Timestamp | undefined, now: Date): Date | null {
  if (timestamp === undefined) return null;
  const at = timestampDate(timestamp);
  // An int64 Timestamp can lie beyond what a Date holds (NaN passes comparisons).
  if (!Number.isFinite(at.getTime())) throw invalid(`${field} is out of range`);
  if (at.getTime() > now.getTime() + MAX_RETENTION_MS) throw invalid(`${field} must be at most seven days ahead`);
  return at.getTime() > now.getTime() ? at : null;
}

export interface CheckedSync {
  /** Outgoing packets grouped by recipient pairID, in request order. */
  outgoing: OutgoingBatch[];
  /** Acknowledged packet ids per own pairID (or "SERVER"), without repeats. */
  acks: Map<string, number[]>;
  /** Receipts acknowledged (receipts_seen) per recipient pairID, without repeats. */
  receiptsSeen: Map<string, number[]>;
  outgoingCount: number;
  pageSize: number;
}

/**
 * Checks a whole SyncRequest before anything is touched, so a refused request
 * stores nothing. packet_id is uint32 on the wire, so it cannot be negative.
 */
export function checkSyncRequest(req: SyncRequest, config: LocationConfig, now: Date): CheckedSync {
  if (req.data.length > config.maxPacketsPerSync) {
    throw invalid(`data holds ${req.data.length} packets; at most ${config.maxPacketsPerSync} per request`);
  }
  const batches = new Map<string, OutgoingBatch>();
  const seen = new Set<string>();
  req.data.forEach((packet, i) => {
    if (!isPairId(packet.pairId)) throw invalid(`data[${i}].pair_id must be 40 characters of [A-Za-z0-9]`);
    if (packet.blob.length === 0) throw invalid(`data[${i}].blob is empty`);
    if (packet.blob.length > config.maxBlobBytes) {
      throw invalid(`data[${i}].blob is ${packet.blob.length} bytes; at most ${config.maxBlobBytes}`);
    }
    if (!SLOTS.has(packet.slot)) throw invalid(`data[${i}].slot is not a known slot`);
    const releaseAt = releaseTime(`data[${i}].release_at`, packet.releaseAt, now);
    if (packet.releaseAt !== undefined && packet.slot !== Slot.UNSPECIFIED) {
      throw invalid(`data[${i}] names both release_at and a slot; a held packet is never slotted`);
    }
    const key = `${packet.pairId}/${packet.packetId}`;
    if (seen.has(key))
      throw invalid(`data[${i}] repeats the pair_id and packet_id of an earlier packet in this request`);
    seen.add(key);
    const batch = batches.get(packet.pairId) ?? { pairId: packet.pairId, packets: [] };
    batch.packets.push({
      packetId: packet.packetId,
      blob: packet.blob,
      releaseAt,
      slot: packet.slot,
      urgent: packet.urgent,
    });
    batches.set(packet.pairId, batch);
  });

  const acks = mergeIds("last_packets_received", req.lastPacketsReceived, true);
  const receiptsSeen = mergeIds("receipts_seen", req.receiptsSeen, false);

  const pageSize = req.pageSize === 0 ? config.defaultPageSize : Math.min(req.pageSize, config.maxPageSize);
  return { outgoing: [...batches.values()], acks, receiptsSeen, outgoingCount: req.data.length, pageSize };
}

/**
 * Packet ids per pairID without repeats, for acknowledgements (of packets or of
 * receipts). Both limits are checked before anything is merged: the merge is
 * linear, but a request over them must cost no more than counting its entries.
 */
function mergeIds(field: string, entries: ReceivedPackets[], server: boolean): Map<string, number[]> {
  if (entries.length > MAX_ACK_ENTRIES) {
    throw invalid(`${field} has ${entries.length} entries; at most ${MAX_ACK_ENTRIES}`);
  }
  let count = 0;
  for (const received of entries) count += received.packetIds.length;
  if (count > MAX_ACKS_PER_SYNC) throw invalid(`${field} acknowledges ${count} packets; at most ${MAX_ACKS_PER_SYNC}`);

  const merged = new Map<string, Set<number>>();
  entries.forEach((received, i) => {
    if (!(isPairId(received.pairId) || (server && received.pairId === SERVER_PAIR_ID))) {
      throw invalid(`${field}[${i}].pair_id must be ${server ? '"SERVER" or ' : ""}40 characters of [A-Za-z0-9]`);
    }
    const ids = merged.get(received.pairId) ?? new Set<number>();
    for (const id of received.packetIds) ids.add(id);
    merged.set(received.pairId, ids);
  });
  return new Map([...merged].map(([pairId, ids]) => [pairId, [...ids]]));
}
