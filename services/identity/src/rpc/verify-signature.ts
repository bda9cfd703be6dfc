import { Code, ConnectError } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { VerifySignatureRequest, VerifySignatureResponseSchema } from "@seeme/contracts/identity";
import type { IdentityContext } from "../context.js";
import {
  MAX_SIGNED_PAYLOAD_BYTES,
  requireAccountId,
  requireSignature,
  verifySignature as verify,
} from "../validate.js";

export function verifySignature(ctx: IdentityContext) {
  return async (req: VerifySignatureRequest): Promise<MessageInitShape<typeof VerifySignatureResponseSchema>> => {
    const accountId = requireAccountId(req.accountId);
    const signature = requireSignature("signature", req.signature);
    if (req.payload.length > MAX_SIGNED_PAYLOAD_BYTES) {
      throw new ConnectError(
        `payload must be at most ${MAX_SIGNED_PAYLOAD_BYTES} bytes, got ${req.payload.length}`,
        Code.InvalidArgument,
      );
    }
    const account = await ctx.db.account.findUnique({ where: { id: accountId }, select: { publicKey: true } });
    // An unknown (or deleted) account is simply "not signed by it", as the contract says.
    return { valid: account !== null && verify(account.publicKey, req.payload, signature) };
  };
}
