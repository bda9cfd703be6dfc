import { Code, ConnectError } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { VerifySessionRequest, VerifySessionResponseSchema } from "@seeme/contracts/identity";
import type { IdentityContext } from "../context.js";
import { hashSessionToken, isSessionTokenShaped } from "../session-token.js";

const REFUSED = "session token is unknown, expired or revoked";

export function verifySession(ctx: IdentityContext) {
  return async (req: VerifySessionRequest): Promise<MessageInitShape<typeof VerifySessionResponseSchema>> => {
    if (!isSessionTokenShaped(req.sessionToken)) throw new ConnectError(REFUSED, Code.Unauthenticated);
    const session = await ctx.db.session.findFirst({
      where: { tokenHash: hashSessionToken(req.sessionToken), expiresAt: { gt: ctx.now() } },
      select: { accountId: true, expiresAt: true },
    });
    if (!session) throw new ConnectError(REFUSED, Code.Unauthenticated);
    return { accountId: session.accountId, expireTime: timestampFromDate(session.expiresAt) };
  };
}
