import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { randomUUID } from "node:crypto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { ChallengePurpose, type RegisterRequest, type RegisterResponseSchema } from "@seeme/contracts/identity";
import { limitAddress, limitSubject } from "../abuse-limits.js";
import { accountMessage } from "../account-message.js";
import { challengePayload } from "@seeme/contracts/protocol";
import { consumeChallenge, findChallenge } from "../challenges.js";
import type { IdentityContext } from "../context.js";
import { isUniqueViolation } from "@seeme/runtime/errors";
import { ChallengePurpose as DbPurpose } from "../db/generated/client.js";
import { requireNonce, requirePublicKey, requireSignature, verifySignature } from "../validate.js";

export function register(ctx: IdentityContext) {
  return async (
    req: RegisterRequest,
    hctx: HandlerContext,
  ): Promise<MessageInitShape<typeof RegisterResponseSchema>> => {
    limitAddress(ctx, hctx, "Register");
    const publicKey = requirePublicKey("public_key", req.publicKey);
    const nonce = requireNonce(req.nonce);
    const signature = requireSignature("signature", req.signature);
    limitSubject(ctx, "Register", Buffer.from(publicKey).toString("hex"));

    await findChallenge(ctx, nonce, { purpose: DbPurpose.REGISTER, publicKey });
    if (!verifySignature(publicKey, challengePayload(ChallengePurpose.REGISTER, nonce, publicKey), signature)) {
      throw new ConnectError("signature does not verify with public_key", Code.Unauthenticated);
    }
    const now = ctx.now();
    try {
      const account = await ctx.db.$transaction(async (tx) => {
        await consumeChallenge(tx, nonce);
        return tx.account.create({
          data: { id: randomUUID(), publicKey: new Uint8Array(publicKey), createdAt: now, keyRotatedAt: now },
        });
      });
      ctx.log.info({ accountId: account.id }, "account registered");
      return { account: accountMessage(account) };
    } catch (error) {
      if (isUniqueViolation(error)) throw new ConnectError("public_key is already registered", Code.AlreadyExists);
      throw error;
    }
  };
}
