import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ChallengePurpose, type SignInRequest, type SignInResponseSchema } from "@seeme/contracts/identity";
import { failedProof, limitAddress } from "../abuse-limits.js";
import { challengePayload } from "@seeme/contracts/protocol";
import { consumeChallenge, findChallenge } from "../challenges.js";
import type { IdentityContext } from "../context.js";
import { ChallengePurpose as DbPurpose } from "../db/generated/client.js";
import { hashSessionToken, newSessionToken } from "../session-token.js";
import { requireAccountId, requireNonce, requireSignature, verifySignature } from "../validate.js";

const REFUSED = "sign-in refused: the signature does not match the account's current key";

export function signIn(ctx: IdentityContext) {
  return async (req: SignInRequest, hctx: HandlerContext): Promise<MessageInitShape<typeof SignInResponseSchema>> => {
    await limitAddress(ctx, hctx, "SignIn");
    const accountId = requireAccountId(req.accountId);
    const nonce = requireNonce(req.nonce);
    const signature = requireSignature("signature", req.signature);
    const refuse = (refusal: ConnectError) => failedProof(ctx, hctx, "SignIn", accountId, refusal);

    await findChallenge(ctx, nonce, { purpose: DbPurpose.SIGN_IN, accountId }).catch(async (error: unknown) => {
      throw error instanceof ConnectError && error.code === Code.Unauthenticated ? await refuse(error) : error;
    });
    const account = await ctx.db.account.findUnique({ where: { id: accountId } });
    if (!account) throw await refuse(new ConnectError("unknown account", Code.Unauthenticated));
    if (!verifySignature(account.publicKey, challengePayload(ChallengePurpose.SIGN_IN, nonce, accountId), signature)) {
      throw await refuse(new ConnectError(REFUSED, Code.Unauthenticated));
    }

    const token = newSessionToken();
    const now = ctx.now();
    const expiresAt = new Date(now.getTime() + ctx.config.sessionTtlMs);
    await ctx.db.$transaction(async (tx) => {
      // Holds the account row against a concurrent rotation or deletion, and
      // confirms the key we verified with is still the account's key.
      const current = await tx.$queryRaw<unknown[]>`
        SELECT 1 FROM "Account" WHERE "id" = ${accountId}::uuid AND "publicKey" = ${account.publicKey} FOR SHARE`;
      if (current.length !== 1) throw new ConnectError(REFUSED, Code.Unauthenticated);
      await consumeChallenge(tx, nonce);
      await tx.session.create({ data: { tokenHash: hashSessionToken(token), accountId, createdAt: now, expiresAt } });
    });
    ctx.log.info({ accountId }, "session started");
    return { sessionToken: token, expireTime: timestampFromDate(expiresAt), accountId };
  };
}
