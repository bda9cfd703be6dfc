import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ChallengePurpose, type RotateKeyRequest, type RotateKeyResponseSchema } from "@seeme/contracts/identity";
import { accountMessage } from "../account-message.js";
import { ACCOUNT_GONE, callerAccount } from "../caller-account.js";
import { challengePayload } from "@seeme/contracts/protocol";
import { consumeChallenge, findChallenge } from "../challenges.js";
import type { IdentityContext } from "../context.js";
import { isUniqueViolation } from "@seeme/runtime/errors";
import { recordEvent } from "@seeme/runtime/outbox";
import { ChallengePurpose as DbPurpose } from "../db/generated/client.js";
import { requireNonce, requirePublicKey, requireSignature, verifySignature } from "../validate.js";

export function rotateKey(ctx: IdentityContext) {
  return async (
    req: RotateKeyRequest,
    hctx: HandlerContext,
  ): Promise<MessageInitShape<typeof RotateKeyResponseSchema>> => {
    const newKey = requirePublicKey("new_public_key", req.newPublicKey);
    const nonce = requireNonce(req.nonce);
    const oldSignature = requireSignature("old_signature", req.oldSignature);
    const newSignature = requireSignature("new_signature", req.newSignature);
    const account = await callerAccount(ctx, hctx);

    await findChallenge(ctx, nonce, { purpose: DbPurpose.ROTATE_KEY, accountId: account.id, publicKey: newKey });
    const payload = challengePayload(ChallengePurpose.ROTATE_KEY, nonce, newKey);
    if (!verifySignature(account.publicKey, payload, oldSignature)) {
      throw new ConnectError("old_signature does not verify with the account's current key", Code.Unauthenticated);
    }
    if (!verifySignature(newKey, payload, newSignature)) {
      throw new ConnectError("new_signature does not verify with new_public_key", Code.Unauthenticated);
    }

    const now = ctx.now();
    try {
      const rotated = await ctx.db.$transaction(async (tx) => {
        await consumeChallenge(tx, nonce);
        // Matching the old key makes a concurrent second rotation lose instead of overwrite.
        const { count } = await tx.account.updateMany({
          where: { id: account.id, publicKey: account.publicKey },
          data: { publicKey: new Uint8Array(newKey), keyRotatedAt: now },
        });
        if (count !== 1)
          throw new ConnectError("the account key changed meanwhile; sign in again", Code.Unauthenticated);
        // Sessions are not stored: gateways refuse tokens issued before this
        // rotation (their krt claim) once they hear the event below.
        const keyRotated = { accountId: account.id, rotateTime: timestampFromDate(now) };
        await recordEvent(tx, "accountKeyRotated", keyRotated, { createdAt: now });
        const updated = await tx.account.findUnique({ where: { id: account.id } });
        if (!updated) throw new ConnectError(ACCOUNT_GONE, Code.Unauthenticated);
        return updated;
      });
      ctx.publishEvents();
      ctx.log.info({ accountId: account.id }, "account key rotated, sessions ended");
      return { account: accountMessage(rotated) };
    } catch (error) {
      if (isUniqueViolation(error)) throw new ConnectError("new_public_key is already registered", Code.AlreadyExists);
      throw error;
    }
  };
}
