import { Code, ConnectError } from "@connectrpc/connect";
import { base64 } from "@scure/base";
import { importConnectionKeyPairs, type ConnectionKeyPairs, type ConnectionPublicKeys } from "./keys.js";
import type { DeviceState, StoredConnection } from "./storage.js";

/** Helpers over the stored state shared by the handshake, the sender and the receiver. */

export const toBase64 = (bytes: Uint8Array): string => base64.encode(bytes);
export const fromBase64 = (text: string): Uint8Array => base64.decode(text);

export function ownKeys(connection: StoredConnection): ConnectionKeyPairs {
  return importConnectionKeyPairs({
    signingSecretKey: fromBase64(connection.signingSecretKey),
    encryptionSecretKey: fromBase64(connection.encryptionSecretKey),
  });
}

/** The peer's keys as scanned from their QR code; undefined before that. */
export function peerKeys(connection: StoredConnection): ConnectionPublicKeys | undefined {
  if (!connection.peerSigningPublicKey || !connection.peerEncryptionPublicKey) return undefined;
  return {
    signingPublicKey: fromBase64(connection.peerSigningPublicKey),
    encryptionPublicKey: fromBase64(connection.peerEncryptionPublicKey),
  };
}

/** Broken or expired: nothing is sent to it or acknowledged under it any more. */
export function isEnded(connection: StoredConnection): boolean {
  return connection.status === "broken" || connection.status === "expired";
}

/**
 * Finds a connection by my pairID, the peer's pairID or its label; a unique
 * prefix of a pairID (at least 4 characters) also matches, for humans typing it.
 * Labels repeat (a new "Bob" after the old one was broken), so connections not
 * yet ended win over ended ones; more than one left is an error naming them all,
 * never a guess.
 */
export function findConnection(state: DeviceState, ref: string): StoredConnection {
  const matches = matching(state, ref);
  if (matches.length === 0) throw new ConnectError("no such connection", Code.NotFound);
  const open = matches.filter((c) => !isEnded(c));
  const candidates = open.length > 0 ? open : matches;
  if (candidates.length === 1) return candidates[0];
  const list = candidates.map((c) => `${c.pairId.slice(0, 8)}… "${c.label}" (${c.status})`).join(", ");
  throw new ConnectError(
    `${candidates.length} connections match "${ref}": ${list}; name one by its pairID or a longer prefix`,
    Code.InvalidArgument,
  );
}

function matching(state: DeviceState, ref: string): StoredConnection[] {
  const byPairId = state.connections.filter((c) => c.pairId === ref || c.peerPairId === ref);
  if (byPairId.length > 0) return byPairId;
  const byLabel = state.connections.filter((c) => c.label === ref);
  if (byLabel.length > 0) return byLabel;
  return ref.length >= 4
    ? state.connections.filter((c) => c.pairId.startsWith(ref) || c.peerPairId?.startsWith(ref))
    : [];
}

/** Ends a connection locally: nothing more is sent to it or acknowledged under it. */
export function retireConnection(state: DeviceState, connection: StoredConnection, status: "broken" | "expired"): void {
  connection.status = status;
  state.outbox = state.outbox.filter((packet) => packet.pairId !== connection.peerPairId);
  delete state.acks[connection.pairId];
  if (connection.peerPairId) delete state.receiptsSeen?.[connection.peerPairId];
  state.partialTexts = state.partialTexts.filter((partial) => partial.connection !== connection.pairId);
}

/**
 * "If you can't see me, I can't see you" also for what is already queued: drops
 * the location packets waiting for `peerPairId` (or for everyone). The packetIDs
 * they held stay used; the relay and the peer's replay guard accept the gap.
 */
export function withdrawQueuedLocations(state: DeviceState, peerPairId?: string): void {
  state.outbox = state.outbox.filter(
    (packet) => packet.kind !== "location" || (peerPairId !== undefined && packet.pairId !== peerPairId),
  );
}

export function addAck(state: DeviceState, pairId: string, packetId: number): void {
  const ids = state.acks[pairId] ?? [];
  if (!ids.includes(packetId)) ids.push(packetId);
  state.acks[pairId] = ids;
}
