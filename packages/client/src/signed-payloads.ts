import { ChallengePurpose } from "@seeme/contracts/identity";
import { isPairId } from "./pair-id.js";

/*
 * The exact byte strings a key signs outside the envelope, shared by the services
 * that verify them and the devices that sign them (no Node-only APIs: browsers run this).
 *
 *   identity challenge:        "see-me/identity/v1/<purpose>\n" || nonce || subject
 *   initiate (A's account key): "see-me/connection/v1/initiate\n" || sender || "\n" || recipient
 *   invite (server signing key): "see-me/connection/v1/invite\n"   || sender || "\n" || recipient
 *
 * Every prefix names one use, so a signature made for one step cannot be replayed as
 * another; pairIDs never contain "\n", so the pair encoding is unambiguous.
 */

/** The subject of a challenge is the public key (register, rotate-key) or the UTF-8 account id (sign-in). */
export const CHALLENGE_PURPOSE_LABELS = {
  [ChallengePurpose.REGISTER]: "register",
  [ChallengePurpose.SIGN_IN]: "sign-in",
  [ChallengePurpose.ROTATE_KEY]: "rotate-key",
} as const;

export type ChallengeKind = keyof typeof CHALLENGE_PURPOSE_LABELS;

export function challengePayload(purpose: ChallengeKind, nonce: Uint8Array, subject: Uint8Array | string): Uint8Array {
  const encoder = new TextEncoder();
  const prefix = encoder.encode(`see-me/identity/v1/${CHALLENGE_PURPOSE_LABELS[purpose]}\n`);
  const tail = typeof subject === "string" ? encoder.encode(subject) : subject;
  const payload = new Uint8Array(prefix.length + nonce.length + tail.length);
  payload.set(prefix, 0);
  payload.set(nonce, prefix.length);
  payload.set(tail, prefix.length + nonce.length);
  return payload;
}

export const INITIATE_PREFIX = "see-me/connection/v1/initiate\n";
export const INVITE_PREFIX = "see-me/connection/v1/invite\n";

/** A RangeError, as the connection service has always thrown: callers validate pairIDs before signing. */
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
