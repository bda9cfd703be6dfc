import { Code, ConnectError } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { VerifySessionRequest, VerifySessionResponseSchema } from "@seeme/contracts/identity";
import { SessionTokenVerifier } from "@seeme/runtime/session-token";
import type { IdentityContext } from "../context.js";

const REFUSED = "session token is unknown, expired or revoked";

/**
 * The authoritative check (gateways verify tokens themselves and need not
 * call this): the signature with identity's own key, then the account as it
 * is now — still there, and not re-keyed since the token was issued.
 */
export function verifySession(ctx: IdentityContext) {
  const tokens = new SessionTokenVerifier([ctx.sessions.verifyKey], () => ctx.now().getTime());
  return async (req: VerifySessionRequest): Promise<MessageInitShape<typeof VerifySessionResponseSchema>> => {
    const claims = await tokens.verify(req.sessionToken).catch(() => {
      throw new ConnectError(REFUSED, Code.Unauthenticated);
    });
    const account = await ctx.db.account.findUnique({
      where: { id: claims.accountId },
      select: { keyRotatedAt: true },
    });
    if (!account || account.keyRotatedAt.getTime() !== claims.keyRotatedAt)
      throw new ConnectError(REFUSED, Code.Unauthenticated);
    return { accountId: claims.accountId, expireTime: timestampFromMs(claims.expiresAt) };
  };
}
