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
};

/** Checks the request for its purpose and decides what the challenge binds to. */
async function subjectFor(ctx: IdentityContext, req: CreateChallengeRequest, hctx: HandlerContext): Promise<Issued> {
  switch (req.purpose) {
    case ChallengePurpose.REGISTER: {
      if (req.accountId !== "") throw invalid("account_id must be empty for a register challenge");
      const publicKey = requirePublicKey("public_key", req.publicKey);
      limitSubject(ctx, "CreateChallenge", Buffer.from(publicKey).toString("hex"));
      if (await ctx.db.account.findUnique({ where: { publicKey: new Uint8Array(publicKey) }, select: { id: true } })) {
        throw new ConnectError("public_key is already registered", Code.AlreadyExists);
      }
      return { kind: req.purpose, purpose: DbPurpose.REGISTER, accountId: null, publicKey, subject: publicKey };
    }
    case ChallengePurpose.SIGN_IN: {
      if (req.publicKey.length !== 0) throw invalid("public_key must be empty for a sign-in challenge");
      const accountId = requireAccountId(req.accountId);
      limitSubject(ctx, "CreateChallenge", accountId);
      if (!(await ctx.db.account.findUnique({ where: { id: accountId }, select: { id: true } }))) {
        throw new ConnectError("unknown account", Code.Unauthenticated);
      }
      return { kind: req.purpose, purpose: DbPurpose.SIGN_IN, accountId, publicKey: null, subject: accountId };
    }
    case ChallengePurpose.ROTATE_KEY: {
      if (req.accountId !== "")
        throw invalid("account_id must be empty for a rotate-key challenge: it is the signed-in caller");
      const caller = hctx.values.get(callerKey);
      if (!caller) throw new ConnectError("a rotate-key challenge requires a signed-in caller", Code.Unauthenticated);
      const publicKey = requirePublicKey("public_key", req.publicKey);
      limitSubject(ctx, "CreateChallenge", caller);
      if (await ctx.db.account.findUnique({ where: { publicKey: new Uint8Array(publicKey) }, select: { id: true } })) {
        throw new ConnectError("public_key is already registered", Code.AlreadyExists);
      }
      return { kind: req.purpose, purpose: DbPurpose.ROTATE_KEY, accountId: caller, publicKey, subject: publicKey };
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
    limitAddress(ctx, hctx, "CreateChallenge");
    const issued = await subjectFor(ctx, req, hctx);
    const nonce = new Uint8Array(randomBytes(NONCE_BYTES));
    const expiresAt = new Date(ctx.now().getTime() + ctx.config.challengeTtlMs);
    try {
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
      if (isForeignKeyViolation(error)) throw new ConnectError("unknown account", Code.Unauthenticated);
      throw error;
    }
    return {
      nonce,
      payload: challengePayload(issued.kind, nonce, issued.subject),
      expireTime: timestampFromDate(expiresAt),
    };
  };
}
