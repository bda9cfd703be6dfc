import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ChallengePurpose, type SignInRequest, type SignInResponseSchema } from "@seeme/contracts/identity";
import { failedProof, limitAddress } from "../abuse-limits.js";
import { challengePayload } from "@seeme/contracts/protocol";
import { consumeChallenge, findChallenge } from "../challenges.js";
import type { IdentityContext } from "../context.js";
import { ChallengePurpose as DbPurpose } from "../db/generated/client.js";
import { newSessionId } from "@seeme/runtime/session-token";
import { requireAccountId, requireNonce, requireSignature, verifySignature } from "../validate.js";

/**
 * One answer for every refusal (no such challenge, expired or used, unknown
 * account, wrong signature), so a stranger learns nothing about whether an
 * account id exists.
 */
const REFUSED =
  "sign-in refused: the challenge is unknown, used or expired, or the signature does not match the account's current key";

export function signIn(ctx: IdentityContext) {
  return async (req: SignInRequest, hctx: HandlerContext): Promise<MessageInitShape<typeof SignInResponseSchema>> => {
    await limitAddress(ctx, hctx, "SignIn");
    const accountId = requireAccountId(req.accountId);
    const nonce = requireNonce(req.nonce);
    const signature = requireSignature("signature", req.signature);
    const refuse = (refusal: ConnectError) => failedProof(ctx, hctx, "SignIn", accountId, refusal);

    await findChallenge(ctx, nonce, { purpose: DbPurpose.SIGN_IN, accountId }).catch(async (error: unknown) => {
      throw error instanceof ConnectError && error.code === Code.Unauthenticated
        ? await refuse(new ConnectError(REFUSED, Code.Unauthenticated))
        : error;
    });
    const account = await ctx.db.account.findUnique({ where: { id: accountId } });
    if (!account) throw await refuse(new ConnectError(REFUSED, Code.Unauthenticated));
    if (!verifySignature(account.publicKey, challengePayload(ChallengePurpose.SIGN_IN, nonce, accountId), signature)) {
      throw await refuse(new ConnectError(REFUSED, Code.Unauthenticated));
    }

    const now = ctx.now();
    const keyRotatedAt = await ctx.db.$transaction(async (tx) => {
      // Holds the account row against a concurrent rotation or deletion, and
      // confirms the key we verified with is still the account's key; the
      // token carries that key's rotation time, so a later rotation revokes it.
      const current = await tx.$queryRaw<{ keyRotatedAt: Date }[]>`
        SELECT "keyRotatedAt" FROM "Account"
        WHERE "id" = ${accountId}::uuid AND "publicKey" = ${account.publicKey} FOR SHARE`;
      if (current.length !== 1) throw new ConnectError(REFUSED, Code.Unauthenticated);
      await consumeChallenge(tx, nonce);
      return current[0].keyRotatedAt;
    });
    // The session is not stored: the signed token is the whole of it, and the
    // gateways verify it themselves (see @seeme/runtime/session-token).
    const expiresAt = new Date(now.getTime() + ctx.config.sessionTokenTtlMs);
    const sessionToken = await ctx.sessions.sign({
      accountId,
      sessionId: newSessionId(),
      keyRotatedAt: keyRotatedAt.getTime(),
      issuedAt: now.getTime(),
      expiresAt: expiresAt.getTime(),
      sessionEndsAt: now.getTime() + ctx.config.sessionTtlMs,
    });
    ctx.log.info({ accountId }, "session started");
    return { sessionToken, expireTime: timestampFromDate(expiresAt), accountId };
  };
}
