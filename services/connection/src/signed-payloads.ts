/**
 * The exact byte strings signed during the QR handshake (SPEC §3), shared by the
 * connection service and the device SDK. No Node-only APIs: this runs in browsers.
 *
 *   account signature (A's account key):   "see-me/connection/v1/initiate\n" || sender || "\n" || recipient
 *   server signature (server signing key):  "see-me/connection/v1/invite\n"   || sender || "\n" || recipient
 *
 * The domain prefixes keep a signature made for one step from being replayed as
 * the other, and pairIDs never contain "\n", so the encoding is unambiguous.
 */

/** A pairID: exactly 40 characters of [A-Za-z0-9]. */
export const PAIR_ID_PATTERN = /^[A-Za-z0-9]{40}$/;

export const INITIATE_PREFIX = "see-me/connection/v1/initiate\n";
export const INVITE_PREFIX = "see-me/connection/v1/invite\n";

export function isPairId(value: string): boolean {
  return PAIR_ID_PATTERN.test(value);
}

function pairPayload(prefix: string, senderPairId: string, recipientPairId: string): Uint8Array {
  for (const id of [senderPairId, recipientPairId]) {
    if (!isPairId(id)) throw new RangeError("a pairID must be exactly 40 characters of [A-Za-z0-9]");
  }
  return new TextEncoder().encode(`${prefix}${senderPairId}\n${recipientPairId}`);
}

/** What the initiator signs with its account key (InitiateConnectionRequest.account_signature). */
export function initiatePayload(senderPairId: string, recipientPairId: string): Uint8Array {
  return pairPayload(INITIATE_PREFIX, senderPairId, recipientPairId);
}

/** What the server signs with its signing key (InitiateConnectionResponse.server_signature). */
export function invitePayload(senderPairId: string, recipientPairId: string): Uint8Array {
  return pairPayload(INVITE_PREFIX, senderPairId, recipientPairId);
}
