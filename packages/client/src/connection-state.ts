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
  return { signingPublicKey: fromBase64(connection.peerSigningPublicKey), encryptionPublicKey: fromBase64(connection.peerEncryptionPublicKey) };
}

/**
 * Finds a connection by my pairID, the peer's pairID or its label; a unique
 * prefix of a pairID (at least 4 characters) also matches, for humans typing it.
 */
export function findConnection(state: DeviceState, ref: string): StoredConnection {
  const exact = state.connections.find((c) => c.pairId === ref || c.peerPairId === ref || c.label === ref);
  if (exact) return exact;
  const byPrefix = ref.length >= 4 ? state.connections.filter((c) => c.pairId.startsWith(ref) || c.peerPairId?.startsWith(ref)) : [];
  if (byPrefix.length === 1) return byPrefix[0];
  throw new ConnectError(byPrefix.length > 1 ? "more than one connection matches; give more characters" : "no such connection", byPrefix.length > 1 ? Code.InvalidArgument : Code.NotFound);
}

/** Ends a connection locally: nothing more is sent to it or acknowledged under it. */
export function retireConnection(state: DeviceState, connection: StoredConnection, status: "broken" | "expired"): void {
  connection.status = status;
  state.outbox = state.outbox.filter((packet) => packet.pairId !== connection.peerPairId);
  delete state.acks[connection.pairId];
  state.partialTexts = state.partialTexts.filter((partial) => partial.connection !== connection.pairId);
}

export function addAck(state: DeviceState, pairId: string, packetId: number): void {
  const ids = state.acks[pairId] ?? [];
  if (!ids.includes(packetId)) ids.push(packetId);
  state.acks[pairId] = ids;
}
