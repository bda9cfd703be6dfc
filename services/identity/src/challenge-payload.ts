import { ChallengePurpose } from "@seeme/contracts/identity";

/**
 * The bytes a key signs to answer a challenge, shared by the server and by
 * clients (the testkit imports this module):
 *   "see-me/identity/v1/<purpose>\n" || nonce || subject
 * The purpose label keeps a signature made for one use from being replayed for
 * another; the subject is the public key (register, rotate-key) or the UTF-8
 * account id (sign-in).
 */
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
