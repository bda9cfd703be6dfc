import { Code, ConnectError } from "@connectrpc/connect";
import type { IdentityContext } from "./context.js";
import type { IdentityTx } from "./db/client.js";
import type { Challenge, ChallengePurpose } from "./db/generated/client.js";

/** One message for every way a nonce can be unusable, so callers learn nothing about other challenges. */
export const CHALLENGE_REFUSED = "challenge is unknown, already used, expired or issued for something else";

/** The unexpired challenge `nonce` issued for exactly this purpose and subject, or Unauthenticated. */
export async function findChallenge(
  ctx: IdentityContext,
  nonce: Uint8Array,
  expected: { purpose: ChallengePurpose; accountId?: string; publicKey?: Uint8Array },
): Promise<Challenge> {
  const challenge = await ctx.db.challenge.findFirst({
    where: {
      nonce: new Uint8Array(nonce),
      purpose: expected.purpose,
      expiresAt: { gt: ctx.now() },
      ...(expected.accountId === undefined ? {} : { accountId: expected.accountId }),
      ...(expected.publicKey === undefined ? {} : { publicKey: new Uint8Array(expected.publicKey) }),
    },
  });
  if (!challenge) throw new ConnectError(CHALLENGE_REFUSED, Code.Unauthenticated);
  return challenge;
}

/**
 * Deletes the challenge inside the transaction that acts on it: of two racing
 * uses, only the one whose delete hits the row commits.
 */
export async function consumeChallenge(tx: IdentityTx, nonce: Uint8Array): Promise<void> {
  const { count } = await tx.challenge.deleteMany({ where: { nonce: new Uint8Array(nonce) } });
  if (count !== 1) throw new ConnectError(CHALLENGE_REFUSED, Code.Unauthenticated);
}
