import type { IncomingPacket } from "@seeme/contracts/location";
import { SERVER_PAIR_ID } from "@seeme/contracts/protocol";
import { ConnectionManagement, DANGER_STATUSES, PrimaryType, SimpleStatus, TextMessageKind } from "./codes.js";
import { joinText } from "./codec-text.js";
import {
  addAck,
  fromBase64,
  ownKeys,
  peerKeys,
  retireConnection,
  withdrawQueuedLocations,
} from "./connection-state.js";
import { open, type OpenedEnvelope } from "./envelope.js";
import { encodeRekey, newKeySet, publicKeysOf, sameKeys, switchKeys, type RekeyMessage } from "./key-rotation.js";
import {
  connectionPublicKeys,
  importConnectionKeyPairs,
  type ConnectionKeyPairs,
  type ConnectionPublicKeys,
} from "./keys.js";
import { ClientError } from "./errors.js";
import { decodeInner, type InnerPacket } from "./inner-packet.js";
import { ReplayGuard } from "./replay-guard.js";
import type { DeviceState, InboxMessage, StoredConnection } from "./storage.js";

/** The pair_id server messages arrive under (SPEC §4). */
export { SERVER_PAIR_ID };
/** Server message ids remembered to skip a second delivery of one not yet acknowledged. */
const REMEMBERED_SERVER_IDS = 200;
/** A send time further ahead of my clock than this is flagged (`sentInFuture`): one of the two clocks is wrong. */
export const FUTURE_TOLERANCE_MS = 5 * 60_000;
/** How long old keys keep opening packets after a rotation (about a relay packet's life), then they are erased. */
export const DEFAULT_ROTATION_GRACE_MS = 7 * 86_400_000;

export interface ReceiveOptions {
  rotationGraceMs?: number;
}

export type RejectReason =
  | "unknown-connection"
  | "envelope-malformed"
  | "envelope-version"
  | "envelope-unauthentic"
  | "envelope-sender-mismatch"
  | "replay"
  | "invalid-payload"
  /** A key-rotation confirm with no rotation of mine waiting (a replay of an old one). */
  | "rotation-unexpected"
  /** A key-rotation confirm for keys I did not offer. */
  | "rotation-mismatch"
  /** Both sides offered new keys at once: the initiator's offer wins, the recipient's is refused. */
  | "rotation-conflict";

/** What became of one incoming packet. Every outcome except `skipped` is acknowledged afterwards. */
export type ReceiveOutcome =
  | { kind: "message"; message: InboxMessage }
  /** A text part stored until the other parts arrive. */
  | { kind: "text-part"; connection: string }
  /**
   * "If you can't see me, I can't see you": a location that arrived while my sharing is off
   * (`sharing-off`), or a status or text this connection's `statusesWhileHidden` keeps out (`hidden`).
   */
  | { kind: "dropped"; connection: string; reason: "sharing-off" | "hidden" }
  /** An update or delete from the peer, applied to the text it names (`message` is the text after an update). */
  | {
      kind: "edited";
      connection: string;
      packetId: number;
      action: "updated" | "deleted";
      found: boolean;
      message?: InboxMessage;
    }
  | { kind: "rejected"; connection?: string; reason: RejectReason }
  /** Already received (a second delivery of a server message not yet acknowledged). */
  | { kind: "skipped" }
  /**
   * A key rotation step applied: `answered` (the peer offered new keys; I switched and owe a
   * confirm) or `completed` (the peer confirmed mine; both sides switched).
   */
  | { kind: "rekeyed"; connection: string; step: "answered" | "completed" }
  /**
   * Did not open while keys are changing (a packet signed with the peer's new key can overtake
   * the confirm that announces it): not acknowledged, so the relay delivers it again.
   */
  | { kind: "deferred"; connection: string };

/** What opening a packet gave, before anything is changed: opening is async (WebCrypto), storage updates are not. */
export type OpenAttempt =
  | { kind: "opened"; envelope: OpenedEnvelope }
  | { kind: "failed"; error: ClientError /** The connection's keys when it failed to authenticate. */; keys?: string }
  /** A server message, or no usable connection: `applyIncoming` decides. */
  | { kind: "none" };

/**
 * Opens `packet` with the keys `state` holds for its connection; changes nothing. Around a key
 * rotation several keys are live: mine (current, previous, the pending new ones) and the peer's
 * (current, previous); each pair is tried, the current ones first.
 */
export async function openIncoming(state: DeviceState, packet: IncomingPacket): Promise<OpenAttempt> {
  if (packet.pairId === SERVER_PAIR_ID) return { kind: "none" };
  const connection = state.connections.find((c) => c.pairId === packet.pairId);
  const senderKeys = connection && peerKeys(connection);
  if (!connection?.peerPairId || !senderKeys) return { kind: "none" };
  const mine: ConnectionKeyPairs[] = [ownKeys(connection)];
  if (connection.previousKeys) mine.push(secretsToKeys(connection.previousKeys));
  if (connection.pendingRotation) mine.push(secretsToKeys(connection.pendingRotation));
  const theirs: ConnectionPublicKeys[] = [senderKeys];
  if (connection.previousPeerKeys) theirs.push(publicKeysOf(connection.previousPeerKeys));
  let first: ClientError | undefined;
  for (const recipientKeys of mine) {
    for (const senderPublicKeys of theirs) {
      try {
        const envelope = await open({
          recipientKeys,
          senderPublicKeys,
          expectedSenderPairId: connection.peerPairId,
          recipientPairId: connection.pairId,
          packetId: packet.packetId,
          blob: packet.blob,
        });
        return { kind: "opened", envelope };
      } catch (error) {
        if (!(error instanceof ClientError)) throw error;
        first ??= error;
        // Only authentication depends on the keys; any other refusal is the same for all of them.
        if (error.reason !== "envelope-unauthentic") return { kind: "failed", error };
      }
    }
  }
  return { kind: "failed", error: first!, keys: keyFingerprint(connection) };
}

function secretsToKeys(secrets: { signingSecretKey: string; encryptionSecretKey: string }): ConnectionKeyPairs {
  return importConnectionKeyPairs({
    signingSecretKey: fromBase64(secrets.signingSecretKey),
    encryptionSecretKey: fromBase64(secrets.encryptionSecretKey),
  });
}

/** Which keys a connection holds, to tell whether they changed between opening and applying. */
function keyFingerprint(connection: StoredConnection): string {
  return [
    connection.encryptionSecretKey,
    connection.peerSigningPublicKey,
    connection.pendingRotation?.encryptionSecretKey,
  ].join("/");
}

/** `openIncoming` then `applyIncoming` on one state (tests, single-threaded tools). */
export async function receiveInto(
  state: DeviceState,
  packet: IncomingPacket,
  now: Date,
  options: ReceiveOptions = {},
): Promise<ReceiveOutcome> {
  return applyIncoming(state, packet, now, await openIncoming(state, packet), options);
}

/**
 * Applies one incoming packet to the state, given what `openIncoming` made of it: checks it, updates the
 * connection (replay window, peer's sharing flag, status) and stores what it
 * carries, and records the acknowledgement to send. The caller persists the
 * state before the acknowledgement leaves the device. Rejected packets are
 * acknowledged too, so a forged or replayed packet is purged from the server.
 */
export function applyIncoming(
  state: DeviceState,
  packet: IncomingPacket,
  now: Date,
  opened: OpenAttempt,
  options: ReceiveOptions = {},
): ReceiveOutcome {
  if (packet.pairId === SERVER_PAIR_ID) return applyServerMessage(state, packet, now);
  const connection = state.connections.find((c) => c.pairId === packet.pairId);
  // A connection ended here is no longer ours on the server either: do not acknowledge under it.
  if (connection && (connection.status === "broken" || connection.status === "expired"))
    return { kind: "rejected", connection: connection.pairId, reason: "unknown-connection" };
  // While keys change (a rotation of mine waits for its confirm, or they changed since this packet
  // was tried), an unauthentic packet may be one signed with keys I learn a moment later.
  if (
    connection &&
    opened.kind === "failed" &&
    opened.keys !== undefined &&
    (connection.pendingRotation || opened.keys !== keyFingerprint(connection))
  ) {
    return { kind: "deferred", connection: connection.pairId };
  }
  addAck(state, packet.pairId, packet.packetId);
  const senderKeys = connection && peerKeys(connection);
  if (!connection?.peerPairId || !senderKeys) return { kind: "rejected", reason: "unknown-connection" };

  if (opened.kind === "none") return { kind: "rejected", reason: "unknown-connection" };
  let inner: InnerPacket;
  try {
    if (opened.kind === "failed") throw opened.error;
    const plaintext = opened.envelope.payload;
    const guard = ReplayGuard.restore(connection.replay);
    // Only after `open`: the packetID is authenticated, so a forgery cannot burn a real one.
    guard.accept(connection.peerPairId, packet.packetId);
    connection.replay = guard.snapshot();
    inner = decodeInner(plaintext);
  } catch (error) {
    if (error instanceof ClientError)
      return { kind: "rejected", connection: connection.pairId, reason: rejectReason(error) };
    throw error;
  }
  // An authentic packet from the peer proves the connection exists on the server:
  // to A, that B confirmed (before the 5/3 notice arrives); to B, that its
  // confirm went through even if the answer was lost.
  if (connection.status === "invited" || connection.status === "answered") connection.status = "active";
  if (inner.type === "rekey")
    return applyRekey(connection, inner.rekey, now, options.rotationGraceMs ?? DEFAULT_ROTATION_GRACE_MS);
  // The flag of the peer's latest packet by packetID, whatever order packets are processed in.
  // packetID 0 is valid (uint32): the first packet sets the flag whatever its id.
  const latest = connection.peerSharingPacketId;
  if (latest === undefined || packet.packetId > latest) {
    connection.peerSharing = peerFlag(inner);
    connection.peerSharingPacketId = packet.packetId;
  }
  // Their sharing is off: the locations still queued for them must not go out either.
  if (!connection.peerSharing) withdrawQueuedLocations(state, connection.peerPairId);
  return storeInner(state, connection, packet.packetId, inner, opened.envelope, now);
}

/** Applies a key-rotation offer or confirm that opened under this connection's keys (key-rotation.ts). */
function applyRekey(connection: StoredConnection, message: RekeyMessage, now: Date, graceMs: number): ReceiveOutcome {
  const graceUntil = new Date(now.getTime() + graceMs);
  if (message.kind === "offer") {
    if (connection.pendingRotation) {
      // Both sides offered at once: the initiator's offer wins, so exactly one rotation happens.
      if (connection.role === "initiator")
        return { kind: "rejected", connection: connection.pairId, reason: "rotation-conflict" };
      delete connection.pendingRotation;
    }
    const mine = newKeySet();
    connection.owedRekeyConfirm = encodeRekey({ kind: "confirm", offered: message.keys, keys: mine.publicKeys });
    switchKeys(connection, mine.secrets, message.keys, graceUntil, now);
    return { kind: "rekeyed", connection: connection.pairId, step: "answered" };
  }
  const pending = connection.pendingRotation;
  if (!pending) return { kind: "rejected", connection: connection.pairId, reason: "rotation-unexpected" };
  if (!sameKeys(message.offered, connectionPublicKeys(secretsToKeys(pending))))
    return { kind: "rejected", connection: connection.pairId, reason: "rotation-mismatch" };
  switchKeys(connection, pending, message.keys, graceUntil, now);
  delete connection.pendingRotation;
  return { kind: "rekeyed", connection: connection.pairId, step: "completed" };
}

/** Whether `inner` from this connection reaches me while my location is hidden (SPEC §8, "statuses while hidden"). */
function passesWhileHidden(connection: StoredConnection, inner: InnerPacket): boolean {
  const setting = connection.statusesWhileHidden ?? "urgent";
  if (setting === "all") return true;
  if (inner.type !== "status") return false;
  const status = inner.status.status;
  // The sharing and notification notices are state, not chatter: they always pass.
  if (status <= SimpleStatus.NotificationsOn) return true;
  return setting === "urgent" && DANGER_STATUSES.includes(status);
}

/** The peer's sharing flag as this packet states it; the explicit on/off statuses say it outright. */
function peerFlag(inner: InnerPacket): boolean {
  if (inner.type === "status" && inner.status.status === SimpleStatus.LocationSharingOff) return false;
  if (inner.type === "status" && inner.status.status === SimpleStatus.LocationSharingOn) return true;
  return inner.sharing;
}

function storeInner(
  state: DeviceState,
  connection: StoredConnection,
  packetId: number,
  inner: InnerPacket,
  envelope: OpenedEnvelope,
  now: Date,
): ReceiveOutcome {
  const sentAtMs = envelope.sentAt * 1000;
  const base = {
    seq: 0,
    receivedAt: now.toISOString(),
    sentAt: new Date(sentAtMs).toISOString(),
    ...(sentAtMs - now.getTime() > FUTURE_TOLERANCE_MS ? { sentInFuture: true } : {}),
    connection: connection.pairId,
    packetId,
    sharing: inner.sharing,
  };
  if (inner.type === "rekey") return { kind: "skipped" };
  if (inner.type !== "location" && !state.sharing && !passesWhileHidden(connection, inner)) {
    return { kind: "dropped", connection: connection.pairId, reason: "hidden" };
  }
  switch (inner.type) {
    case "location": {
      if (!state.sharing) return { kind: "dropped", connection: connection.pairId, reason: "sharing-off" };
      const { movement, latitude, longitude, speedKmh } = inner.location;
      const { accuracyM, batteryPercent } = envelope;
      const extra = {
        ...(accuracyM === undefined ? {} : { accuracyM }),
        ...(batteryPercent === undefined ? {} : { batteryPercent }),
      };
      return {
        kind: "message",
        message: pushInbox(state, { ...base, kind: "location", movement, latitude, longitude, speedKmh, ...extra }),
      };
    }
    case "status": {
      const { status, sentAt, utcOffsetMinutes } = inner.status;
      return {
        kind: "message",
        message: pushInbox(state, { ...base, kind: "status", status, sentAt: sentAt.toISOString(), utcOffsetMinutes }),
      };
    }
    case "text":
      return storeTextPart(state, connection, packetId, inner, base);
  }
}

function storeTextPart(
  state: DeviceState,
  connection: StoredConnection,
  packetId: number,
  inner: Extract<InnerPacket, { type: "text" }>,
  base: { seq: number; receivedAt: string; sentAt: string; connection: string; sharing: boolean },
): ReceiveOutcome {
  const { part } = inner;
  // The sender gives the parts of one message consecutive packetIDs, so part 1's id names the message.
  const firstPacketId = packetId - (part.part - 1);
  let partial = state.partialTexts.find((p) => p.connection === connection.pairId && p.firstPacketId === firstPacketId);
  if (!partial) {
    partial = { connection: connection.pairId, firstPacketId, of: part.of, parts: {} };
    state.partialTexts.push(partial);
  }
  partial.parts[String(part.part)] = inner.raw;
  if (Object.keys(partial.parts).length < partial.of) return { kind: "text-part", connection: connection.pairId };
  state.partialTexts = state.partialTexts.filter((p) => p !== partial);
  try {
    const text = joinText(Object.values(partial.parts));
    if (text.kind === TextMessageKind.Update || text.kind === TextMessageKind.Delete) {
      return applyEdit(
        state,
        connection,
        firstPacketId,
        text.kind === TextMessageKind.Update ? "updated" : "deleted",
        text,
      );
    }
    return {
      kind: "message",
      message: pushInbox(state, {
        ...base,
        kind: "text",
        packetId: firstPacketId,
        textKind: text.kind,
        sharing: text.sharing,
        parentPacketId: text.parentPacketId,
        parentIsSender: text.parentIsSender,
        message: text.message,
      }),
    };
  } catch (error) {
    if (error instanceof ClientError)
      return { kind: "rejected", connection: connection.pairId, reason: "invalid-payload" };
    throw error;
  }
}

/**
 * An update replaces, a delete removes, the text it names; a peer may only edit its own texts
 * (parent-is-sender set). The edit itself is not kept as a message. A parent not (or no longer)
 * here — pruned, deleted, never received — leaves nothing to change (`found: false`).
 */
function applyEdit(
  state: DeviceState,
  connection: StoredConnection,
  editPacketId: number,
  action: "updated" | "deleted",
  text: { parentPacketId: number; parentIsSender: boolean; message: string },
): ReceiveOutcome {
  if (!text.parentIsSender || text.parentPacketId === 0)
    return { kind: "rejected", connection: connection.pairId, reason: "invalid-payload" };
  const index = state.inbox.findIndex(
    (m) => m.kind === "text" && m.connection === connection.pairId && m.packetId === text.parentPacketId,
  );
  const outcome = {
    kind: "edited" as const,
    connection: connection.pairId,
    packetId: text.parentPacketId,
    action,
    found: index >= 0,
  };
  if (index < 0) return outcome;
  if (action === "deleted") {
    state.inbox.splice(index, 1);
    return outcome;
  }
  const target = state.inbox[index];
  if (target.kind !== "text") return outcome;
  target.message = text.message;
  target.updatedBy = editPacketId;
  return { ...outcome, message: structuredClone(target) };
}

function applyServerMessage(state: DeviceState, packet: IncomingPacket, now: Date): ReceiveOutcome {
  if (state.seenServerMessages.includes(packet.packetId)) {
    addAck(state, SERVER_PAIR_ID, packet.packetId);
    return { kind: "skipped" };
  }
  state.seenServerMessages = [...state.seenServerMessages, packet.packetId].slice(-REMEMBERED_SERVER_IDS);
  addAck(state, SERVER_PAIR_ID, packet.packetId);
  if (packet.type === PrimaryType.ConnectionManagement) {
    // The notice's text is the pairID it is about: the peer's side of my connection.
    const connection = state.connections.find((c) => c.peerPairId === packet.text);
    if (connection) {
      if (packet.subType === ConnectionManagement.Confirmed && connection.status === "invited")
        connection.status = "active";
      if (packet.subType === ConnectionManagement.Expired && connection.status === "invited")
        retireConnection(state, connection, "expired");
      if (packet.subType === ConnectionManagement.Break) retireConnection(state, connection, "broken");
    }
  }
  const message = pushInbox(state, {
    seq: 0,
    receivedAt: now.toISOString(),
    kind: "server",
    packetId: packet.packetId,
    type: packet.type,
    subType: packet.subType,
    text: packet.text,
  });
  return { kind: "message", message };
}

function pushInbox<M extends InboxMessage>(state: DeviceState, message: M): M {
  const stored = { ...message, seq: state.nextInboxSeq++ };
  state.inbox.push(stored);
  return stored;
}

function rejectReason(error: ClientError): RejectReason {
  switch (error.reason) {
    case "envelope-malformed":
    case "envelope-version":
    case "envelope-unauthentic":
    case "envelope-sender-mismatch":
    case "replay":
      return error.reason;
    default:
      return "invalid-payload";
  }
}
