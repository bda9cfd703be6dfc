import { Code, ConnectError } from "@connectrpc/connect";
import type { ConnectionContext } from "./context.js";

/** Asks identity whether the account's current key signed `payload`; refuses the call otherwise. */
export async function verifyAccountSignature(
  ctx: Pick<ConnectionContext, "identity" | "log">,
  accountId: string,
  payload: Uint8Array,
  signature: Uint8Array,
): Promise<void> {
  let valid: boolean;
  try {
    ({ valid } = await ctx.identity.verifySignature({ accountId, payload, signature }));
  } catch (error) {
    const code = error instanceof ConnectError ? Code[error.code] : "unknown";
    ctx.log.warn({ code }, "identity VerifySignature failed");
    throw new ConnectError("cannot verify the account signature right now, retry later", Code.Unavailable);
  }
  if (!valid) {
    throw new ConnectError(
      "account_signature is not the caller's account key signature of this pair",
      Code.PermissionDenied,
    );
  }
}
