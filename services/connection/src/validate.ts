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

/** An optional raw Ed25519 public key: empty (unset) or exactly 32 bytes. */
export function optionalPublicKey(field: string, value: Uint8Array): Uint8Array | undefined {
  if (value.length === 0) return undefined;
  if (value.length !== 32)
    throw new ConnectError(`${field} must be a 32-byte Ed25519 public key`, Code.InvalidArgument);
  return value;
}
