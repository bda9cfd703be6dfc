import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { fromBase64, toBase64 } from "./connection-state.js";
import { invalidPayload } from "./fixed-width.js";
import {
  assertConnectionPublicKeys,
  connectionPublicKeys,
  exportConnectionSecretKeys,
  generateConnectionKeyPairs,
  type ConnectionPublicKeys,
} from "./keys.js";
import type { StoredConnection, StoredKeySecrets } from "./storage.js";

/*
 * In-band key rotation (SPEC §8; docs/client.md, "Key rotation"). Two envelope payloads of
 * primary type 5 (connection management) with see-me's own sub-types, never seen by the server:
 *   `56` ‖ hex(new signing public 32) ‖ hex(new encryption public 32)                (offer, 130 chars)
 *   `57` ‖ hex(offered signing) ‖ hex(offered encryption) ‖ hex(my new signing) ‖ hex(my new encryption)
 *                                                                                   (confirm, 258 chars)
 * The offer is sealed and signed under the current keys, so only the real peer can make one. The
 * peer answers with a confirm that names the offered keys and carries its own new keys, signed with
 * its old signing key and sealed to the offered (new) encryption key: a confirm for keys I never
 * offered, or one arriving with no rotation of mine waiting, is refused. Each side keeps its old
 * secrets and the peer's old public keys for a grace window, so packets sealed before the switch
 * still open, and then erases them.
 */

export const REKEY_OFFER = "56";
export const REKEY_CONFIRM = "57";
const KEY_HEX = 64;

export type RekeyMessage =
  | { kind: "offer"; keys: ConnectionPublicKeys }
  | { kind: "confirm"; offered: ConnectionPublicKeys; keys: ConnectionPublicKeys };

export function encodeRekey(message: RekeyMessage): string {
  const hex = (keys: ConnectionPublicKeys) => bytesToHex(keys.signingPublicKey) + bytesToHex(keys.encryptionPublicKey);
  return message.kind === "offer"
    ? REKEY_OFFER + hex(message.keys)
    : REKEY_CONFIRM + hex(message.offered) + hex(message.keys);
}

export function decodeRekey(payload: string): RekeyMessage {
  const keysAt = (at: number): ConnectionPublicKeys => {
    const text = payload.slice(at, at + 2 * KEY_HEX);
    if (!/^[0-9a-f]{128}$/.test(text)) throw invalidPayload("rekey: keys must be 128 lowercase hex digits");
    const keys = {
      signingPublicKey: hexToBytes(text.slice(0, KEY_HEX)),
      encryptionPublicKey: hexToBytes(text.slice(KEY_HEX)),
    };
    assertConnectionPublicKeys(keys);
    return keys;
  };
  if (payload.startsWith(REKEY_OFFER) && payload.length === 2 + 2 * KEY_HEX) return { kind: "offer", keys: keysAt(2) };
  if (payload.startsWith(REKEY_CONFIRM) && payload.length === 2 + 4 * KEY_HEX)
    return { kind: "confirm", offered: keysAt(2), keys: keysAt(2 + 2 * KEY_HEX) };
  throw invalidPayload("rekey: not a key offer (56) or confirm (57) of the right length");
}

/** Fresh connection key pairs, as stored secrets and as the public keys to announce. */
export function newKeySet(): { secrets: StoredKeySecrets; publicKeys: ConnectionPublicKeys } {
  const keys = generateConnectionKeyPairs();
  const secrets = exportConnectionSecretKeys(keys);
  return {
    secrets: {
      signingSecretKey: toBase64(secrets.signingSecretKey),
      encryptionSecretKey: toBase64(secrets.encryptionSecretKey),
    },
    publicKeys: connectionPublicKeys(keys),
  };
}

export function sameKeys(a: ConnectionPublicKeys, b: ConnectionPublicKeys): boolean {
  return (
    bytesToHex(a.signingPublicKey) === bytesToHex(b.signingPublicKey) &&
    bytesToHex(a.encryptionPublicKey) === bytesToHex(b.encryptionPublicKey)
  );
}

/**
 * Makes `secrets` my keys and `peer` the peer's, keeping the ones they replace until `graceUntil`
 * so that packets sealed or signed before the switch still open.
 */
export function switchKeys(
  connection: StoredConnection,
  secrets: StoredKeySecrets,
  peer: ConnectionPublicKeys,
  graceUntil: Date,
  now: Date,
): void {
  connection.previousKeys = {
    signingSecretKey: connection.signingSecretKey,
    encryptionSecretKey: connection.encryptionSecretKey,
    until: graceUntil.toISOString(),
  };
  if (connection.peerSigningPublicKey && connection.peerEncryptionPublicKey) {
    connection.previousPeerKeys = {
      signingPublicKey: connection.peerSigningPublicKey,
      encryptionPublicKey: connection.peerEncryptionPublicKey,
      until: graceUntil.toISOString(),
    };
  }
  connection.signingSecretKey = secrets.signingSecretKey;
  connection.encryptionSecretKey = secrets.encryptionSecretKey;
  connection.peerSigningPublicKey = toBase64(peer.signingPublicKey);
  connection.peerEncryptionPublicKey = toBase64(peer.encryptionPublicKey);
  connection.keysCreatedAt = now.toISOString();
}

/** Erases the old keys whose grace window has passed; true if any went. */
export function eraseExpiredKeys(connection: StoredConnection, now: Date): boolean {
  let erased = false;
  if (connection.previousKeys && Date.parse(connection.previousKeys.until) <= now.getTime()) {
    delete connection.previousKeys;
    erased = true;
  }
  if (connection.previousPeerKeys && Date.parse(connection.previousPeerKeys.until) <= now.getTime()) {
    delete connection.previousPeerKeys;
    erased = true;
  }
  return erased;
}

export function publicKeysOf(stored: { signingPublicKey: string; encryptionPublicKey: string }): ConnectionPublicKeys {
  return {
    signingPublicKey: fromBase64(stored.signingPublicKey),
    encryptionPublicKey: fromBase64(stored.encryptionPublicKey),
  };
}
