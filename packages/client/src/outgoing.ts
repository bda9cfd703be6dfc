import { Code, ConnectError } from "@connectrpc/connect";
import { ownKeys, peerKeys, toBase64 } from "./connection-state.js";
import { seal } from "./envelope.js";
import { encodeInner, payloadKind } from "./inner-packet.js";
import { MAX_PACKET_ID } from "./packet-id.js";
import type { DeviceState, StoredConnection } from "./storage.js";
import { isUrgentPayload } from "./urgency.js";

/** Where a send went: the packetIDs queued per connection, and who was skipped and why. */
export interface SendReport {
  sent: Array<{ connection: string; label: string; packetIds: number[] }>;
  /** Connections that get no location from me because their last packet said their sharing is off. */
  withheld: Array<{ connection: string; label: string }>;
  /**
   * Connections nothing could be queued for (an unusable key from their code,
   * packetIDs used up): one such connection never stops a send to the others.
   */
  failed: Array<{ connection: string; label: string; code: Code; message: string }>;
  /** Set when the Sync after queueing failed: the packets stay queued and go out on the next Sync. */
  syncError?: { code: Code; message: string };
}

/** The connections a send goes to: the named ones, or every active one. */
export function sendTargets(state: DeviceState, to?: StoredConnection): StoredConnection[] {
  if (to) {
    if (to.status !== "active") throw new ConnectError(`connection "${to.label}" is ${to.status}, not active`, Code.FailedPrecondition);
    return [to];
  }
  return state.connections.filter((connection) => connection.status === "active");
}

/**
 * Seals `payloads` for one connection and appends them to the outbox under fresh,
 * consecutive packetIDs, inside the caller's storage update: a packet is queued
 * with its final packetID and blob before any send, so a resend after a crash is
 * byte-for-byte the same packet and the server stores it once.
 */
export function queuePayloads(state: DeviceState, connection: StoredConnection, payloads: string[], maxBlobBytes: number, now: Date): number[] {
  const recipientPublicKeys = peerKeys(connection);
  if (connection.status !== "active" || !connection.peerPairId || !recipientPublicKeys) {
    throw new ConnectError(`connection "${connection.label}" is ${connection.status}, not active`, Code.FailedPrecondition);
  }
  if (connection.lastPacketId + payloads.length > MAX_PACKET_ID) {
    throw new ConnectError("this connection has used up its packetIDs; make a new connection", Code.ResourceExhausted);
  }
  const senderKeys = ownKeys(connection);
  // Everything is sealed before anything is recorded, so a failure leaves this connection as it was.
  let lastPacketId = connection.lastPacketId;
  const packets = payloads.map((payload) => {
    const packetId = ++lastPacketId;
    const blob = seal({
      senderKeys,
      recipientPublicKeys,
      senderPairId: connection.pairId,
      recipientPairId: connection.peerPairId!,
      packetId,
      plaintext: encodeInner(payload),
    });
    if (blob.length > maxBlobBytes) throw new ConnectError(`packet is ${blob.length} bytes; the server accepts at most ${maxBlobBytes}`, Code.InvalidArgument);
    return { pairId: connection.peerPairId!, packetId, kind: payloadKind(payload), blob: toBase64(blob), queuedAt: now.toISOString(), urgent: isUrgentPayload(payload) };
  });
  connection.lastPacketId = lastPacketId;
  state.outbox.push(...packets);
  return packets.map((packet) => packet.packetId);
}
