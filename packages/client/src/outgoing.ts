import { Code, ConnectError } from "@connectrpc/connect";
import { ownKeys, peerKeys, toBase64 } from "./connection-state.js";
import { seal } from "./envelope.js";
import { ClientError } from "./errors.js";
import { encodeInner, payloadKind } from "./inner-packet.js";
import type { ConnectionKeyPairs } from "./keys.js";
import { MAX_PACKET_ID } from "./packet-id.js";
import type { DeviceState, DeviceStorage, OutboxPacket, StoredConnection } from "./storage.js";
import { isUrgentPayload } from "./urgency.js";

/** Where a send went: the packetIDs queued per connection, and who was skipped and why. */
export interface SendReport {
  /** Connections the packets were queued for (persisted on this device, whatever the network does). */
  sent: Array<{ connection: string; label: string; packetIds: number[] }>;
  /** Connections that get no location from me because their last packet said their sharing is off. */
  withheld: Array<{ connection: string; label: string }>;
  /**
   * Connections nothing could be queued for (an unusable key from their code,
   * packetIDs used up): one such connection never stops a send to the others.
   */
  failed: Array<{ connection: string; label: string; code: Code; message: string }>;
  /**
   * `stored`: the server confirmed it holds every packet of this send; `queued`: they wait in the
   * outbox (offline, no Sync asked, or the Sync failed) and go out on the next Sync.
   */
  outcome: "stored" | "queued";
  /** Set when the Sync after queueing failed: the packets stay queued and go out on the next Sync. */
  syncError?: { code: Code; message: string };
}

/** Optional envelope-header fields of a location fix. */
export interface FixMeta {
  accuracyM?: number;
  batteryPercent?: number;
}

/** The connections a send goes to: the named ones, or every active one. */
export function sendTargets(state: DeviceState, to?: StoredConnection): StoredConnection[] {
  if (to) {
    if (to.status !== "active")
      throw new ConnectError(`connection "${to.label}" is ${to.status}, not active`, Code.FailedPrecondition);
    return [to];
  }
  return state.connections.filter((connection) => connection.status === "active");
}

/**
 * Seals `payloads` for one connection under the packetIDs after `connection.lastPacketId`,
 * without recording anything: the caller commits them with `commitPackets` in a storage update,
 * so a packet is queued with its final packetID and blob before any send and a resend after a
 * crash is byte-for-byte the same packet, which the server stores once.
 */
export async function sealPayloads(
  connection: StoredConnection,
  payloads: string[],
  maxBlobBytes: number,
  now: Date,
  meta: FixMeta = {},
  /** Signs with these instead of the connection's current keys (a rotation confirm: the old ones). */
  signWith?: ConnectionKeyPairs,
): Promise<OutboxPacket[]> {
  const recipientPublicKeys = peerKeys(connection);
  if (connection.status !== "active" || !connection.peerPairId || !recipientPublicKeys) {
    throw new ConnectError(
      `connection "${connection.label}" is ${connection.status}, not active`,
      Code.FailedPrecondition,
    );
  }
  if (connection.lastPacketId + payloads.length > MAX_PACKET_ID) {
    throw new ConnectError("this connection has used up its packetIDs; make a new connection", Code.ResourceExhausted);
  }
  const senderKeys = signWith ?? ownKeys(connection);
  const sentAt = Math.floor(now.getTime() / 1000);
  const packets: OutboxPacket[] = [];
  let packetId = connection.lastPacketId;
  for (const payload of payloads) {
    packetId++;
    const kind = payloadKind(payload);
    const blob = await seal({
      senderKeys,
      recipientPublicKeys,
      senderPairId: connection.pairId,
      recipientPairId: connection.peerPairId,
      packetId,
      plaintext: encodeInner(payload),
      sentAt,
      ...(kind === "location" ? meta : {}),
    });
    if (blob.length > maxBlobBytes)
      throw new ConnectError(
        `packet is ${blob.length} bytes; the server accepts at most ${maxBlobBytes}`,
        Code.InvalidArgument,
      );
    packets.push({
      pairId: connection.peerPairId,
      packetId,
      kind,
      blob: toBase64(blob),
      queuedAt: now.toISOString(),
      urgent: isUrgentPayload(payload),
    });
  }
  return packets;
}

/**
 * Appends sealed packets to the outbox inside a storage update, if the connection still is where
 * it was when they were sealed (same last packetID, still active); false when another update
 * (another process, a concurrent send) got there first: the caller seals again.
 */
export function commitPackets(
  state: DeviceState,
  connectionPairId: string,
  sealedAfter: number,
  packets: OutboxPacket[],
): boolean {
  const connection = state.connections.find((c) => c.pairId === connectionPairId);
  if (!connection || connection.status !== "active" || connection.lastPacketId !== sealedAfter) return false;
  connection.lastPacketId = sealedAfter + packets.length;
  state.outbox.push(...packets);
  return true;
}

/**
 * Seals and queues `payloads` for one connection in `storage` (tests and tools): seal, then
 * commit, again if another update moved the connection meanwhile.
 */
export async function queuePayloads(
  storage: DeviceStorage,
  connectionPairId: string,
  payloads: string[],
  maxBlobBytes: number,
  now: Date,
  meta: FixMeta = {},
): Promise<number[]> {
  for (let attempt = 0; attempt < MAX_COMMIT_ATTEMPTS; attempt++) {
    const connection = (await storage.read()).connections.find((c) => c.pairId === connectionPairId);
    if (!connection) throw new ConnectError("no such connection", Code.NotFound);
    const packets = await sealPayloads(connection, payloads, maxBlobBytes, now, meta);
    if (await storage.update((state) => commitPackets(state, connectionPairId, connection.lastPacketId, packets))) {
      return packets.map((packet) => packet.packetId);
    }
  }
  throw new ClientError("invalid-payload", "the device state kept changing while queueing; try again", Code.Aborted);
}

/** Sealing is async (WebCrypto) and storage updates are not, so a lost race is retried this often. */
export const MAX_COMMIT_ATTEMPTS = 8;
