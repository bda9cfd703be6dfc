import { Code, ConnectError } from "@connectrpc/connect";
import { isPairId } from "@seeme/contracts/protocol";

/** Refuses anything but a 40-character [A-Za-z0-9] pairID, naming the field. */
export function requirePairId(field: string, value: string): string {
  if (!isPairId(value)) {
    throw new ConnectError(`${field} must be exactly 40 characters of [A-Za-z0-9]`, Code.InvalidArgument);
  }
  return value;
}

/** Refuses two distinct-but-equal pairIDs: a connection needs one address per direction. */
export function requirePair(sender: string, recipient: string): void {
  requirePairId("sender_pair_id", sender);
  requirePairId("recipient_pair_id", recipient);
  if (sender === recipient) {
    throw new ConnectError("sender_pair_id and recipient_pair_id must differ", Code.InvalidArgument);
  }
}

export function requireSignature(field: string, value: Uint8Array): Uint8Array {
  if (value.length !== 64) throw new ConnectError(`${field} must be a 64-byte Ed25519 signature`, Code.InvalidArgument);
  return value;
}

/** A raw 32-byte Ed25519 public key; `what` tells a client that left it out what to send. */
export function requirePublicKey(field: string, value: Uint8Array, what: string): Uint8Array {
  if (value.length !== 32)
    throw new ConnectError(`${field} must be a 32-byte Ed25519 public key: ${what}`, Code.InvalidArgument);
  return value;
}
