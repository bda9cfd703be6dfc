import { randomBytes } from "node:crypto";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  ChallengePurpose,
  type CreateChallengeRequest,
  type CreateChallengeResponseSchema,
} from "@seeme/contracts/identity";
import { callerKey } from "@seeme/runtime/caller";
import { limitAddress, limitSubject } from "../abuse-limits.js";
import { challengePayload, type ChallengeKind } from "@seeme/contracts/protocol";
import type { IdentityContext } from "../context.js";
import { invalid, isForeignKeyViolation } from "@seeme/runtime/errors";
import { ChallengePurpose as DbPurpose } from "../db/generated/client.js";
import { NONCE_BYTES, requireAccountId, requirePublicKey } from "../validate.js";

type Issued = {
  kind: ChallengeKind;
  purpose: DbPurpose;
  accountId: string | null;
  publicKey: Uint8Array | null;
  subject: Uint8Array | string;
  /** False for a sign-in challenge for an account that does not exist: answered alike, never stored, never verifiable. */
  stored: boolean;
};

/** Checks the request for its purpose and decides what the challenge binds to. */
async function subjectFor(ctx: IdentityContext, req: CreateChallengeRequest, hctx: HandlerContext): Promise<Issued> {
  switch (req.purpose) {
    case ChallengePurpose.REGISTER: {
      if (req.accountId !== "") throw invalid("account_id must be empty for a register challenge");
      const publicKey = requirePublicKey("public_key", req.publicKey);
      await limitSubject(ctx, hctx, "CreateChallenge", Buffer.from(publicKey).toString("hex"));
      // Issued whether or not the key is registered: only a signature by the key decides (Register).
      return {
        kind: req.purpose,
        purpose: DbPurpose.REGISTER,
        accountId: null,
        publicKey,
        subject: publicKey,
        stored: true,
      };
    }
    case ChallengePurpose.SIGN_IN: {
      if (req.publicKey.length !== 0) throw invalid("public_key must be empty for a sign-in challenge");
      const accountId = requireAccountId(req.accountId);
      await limitSubject(ctx, hctx, "CreateChallenge", accountId);
      // An unknown account gets a challenge like any other, which no signature
      // can answer (it is not stored): the answer does not tell whether the id exists.
      const exists = (await ctx.db.account.findUnique({ where: { id: accountId }, select: { id: true } })) !== null;
      return {
        kind: req.purpose,
        purpose: DbPurpose.SIGN_IN,
        accountId,
        publicKey: null,
        subject: accountId,
        stored: exists,
      };
    }
    case ChallengePurpose.ROTATE_KEY: {
      if (req.accountId !== "")
        throw invalid("account_id must be empty for a rotate-key challenge: it is the signed-in caller");
      const caller = hctx.values.get(callerKey);
      if (!caller) throw new ConnectError("a rotate-key challenge requires a signed-in caller", Code.Unauthenticated);
      const publicKey = requirePublicKey("public_key", req.publicKey);
      await limitSubject(ctx, hctx, "CreateChallenge", caller);
      // Whether the new key is taken is told only after both keys have signed (RotateKey).
      return {
        kind: req.purpose,
        purpose: DbPurpose.ROTATE_KEY,
        accountId: caller,
        publicKey,
        subject: publicKey,
        stored: true,
      };
    }
    default:
      throw invalid("purpose must be REGISTER, SIGN_IN or ROTATE_KEY");
  }
}

export function createChallenge(ctx: IdentityContext) {
  return async (
    req: CreateChallengeRequest,
    hctx: HandlerContext,
  ): Promise<MessageInitShape<typeof CreateChallengeResponseSchema>> => {
    await limitAddress(ctx, hctx, "CreateChallenge");
    const issued = await subjectFor(ctx, req, hctx);
    const nonce = new Uint8Array(randomBytes(NONCE_BYTES));
    const expiresAt = new Date(ctx.now().getTime() + ctx.config.challengeTtlMs);
    try {
      if (issued.stored)
        await ctx.db.challenge.create({
          data: {
            nonce,
            purpose: issued.purpose,
            accountId: issued.accountId,
            publicKey: issued.publicKey && new Uint8Array(issued.publicKey),
            expiresAt,
          },
        });
    } catch (error) {
      // The account was deleted meanwhile: a sign-in challenge is answered as for any unknown account.
      if (!isForeignKeyViolation(error)) throw error;
      if (issued.purpose !== DbPurpose.SIGN_IN)
        throw new ConnectError("account no longer exists", Code.Unauthenticated);
    }
    return {
      nonce,
      payload: challengePayload(issued.kind, nonce, issued.subject),
      expireTime: timestampFromDate(expiresAt),
    };
  };
}
