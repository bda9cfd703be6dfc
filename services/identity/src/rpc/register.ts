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
    await limitAddress(ctx, hctx, "Register");
    const publicKey = requirePublicKey("public_key", req.publicKey);
    const nonce = requireNonce(req.nonce);
    const signature = requireSignature("signature", req.signature);
    await limitSubject(ctx, hctx, "Register", Buffer.from(publicKey).toString("hex"));

    await findChallenge(ctx, nonce, { purpose: DbPurpose.REGISTER, publicKey });
    if (!verifySignature(publicKey, challengePayload(ChallengePurpose.REGISTER, nonce, publicKey), signature)) {
      throw new ConnectError("signature does not verify with public_key", Code.Unauthenticated);
    }
    // The signer holds the key: a key that is already registered answers with
    // its account, exactly like a fresh registration (and a retried Register
    // is idempotent). Nobody without the key learns whether it is registered.
    const now = ctx.now();
    const existing = () => ctx.db.account.findUnique({ where: { publicKey: new Uint8Array(publicKey) } });
    try {
      const { account, created } = await ctx.db.$transaction(async (tx) => {
        await consumeChallenge(tx, nonce);
        const found = await tx.account.findUnique({ where: { publicKey: new Uint8Array(publicKey) } });
        if (found) return { account: found, created: false };
        const fresh = await tx.account.create({
          data: { id: randomUUID(), publicKey: new Uint8Array(publicKey), createdAt: now, keyRotatedAt: now },
        });
        return { account: fresh, created: true };
      });
      if (created) ctx.log.info({ accountId: account.id }, "account registered");
      return { account: accountMessage(account) };
    } catch (error) {
      // A concurrent Register of the same key won: same answer as above.
      const raced = isUniqueViolation(error) ? await existing() : null;
      if (raced) return { account: accountMessage(raced) };
      throw error;
    }
  };
}
