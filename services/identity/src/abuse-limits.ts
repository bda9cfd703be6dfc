import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { verifiedClientAddress } from "@seeme/runtime/caller";
import { CLIENT_ADDRESS_HEADER } from "@seeme/runtime/rate-limit";
import type { IdentityContext } from "./context.js";

/**
 * The client's address as the gateway signed it. Calls that bypass the
 * gateway, or carry an address it did not sign, share one bucket: a forged
 * header buys nothing.
 */
function clientAddress(ctx: IdentityContext, hctx: HandlerContext): string {
  return (
    verifiedClientAddress(ctx.config.internalAuthSecret, hctx.requestHeader.get(CLIENT_ADDRESS_HEADER)) ?? "unverified"
  );
}

/** ResourceExhausted once this client address has used up `method`'s budget. */
export async function limitAddress(ctx: IdentityContext, hctx: HandlerContext, method: string): Promise<void> {
  await ctx.limits.address.take(`${method}:${clientAddress(ctx, hctx)}`, "this network address");
}

/**
 * Budget of one source for one target (an account id or a hex public key).
 * Keyed on both, so a stranger who knows an account id spends only their own
 * budget for it and cannot lock the account's owner out of sign-in.
 */
function subjectKey(ctx: IdentityContext, hctx: HandlerContext, method: string, subject: string): string {
  return `${method}:${clientAddress(ctx, hctx)}:${subject}`;
}

const EXHAUSTED = "rate limit exceeded for this account from this network address; retry later";

/** ResourceExhausted once this source has used up `method`'s budget for `subject`. */
export async function limitSubject(
  ctx: IdentityContext,
  hctx: HandlerContext,
  method: string,
  subject: string,
): Promise<void> {
  if (!(await ctx.limits.account.tryTake(subjectKey(ctx, hctx, method, subject))))
    throw new ConnectError(EXHAUSTED, Code.ResourceExhausted);
}

/**
 * For proofs (SignIn): only failed attempts spend the budget, so the
 * owner's valid signature is never refused by it; once a source has failed
 * too often for `subject`, its further failures say ResourceExhausted.
 */
export async function failedProof(
  ctx: IdentityContext,
  hctx: HandlerContext,
  method: string,
  subject: string,
  refusal: ConnectError,
): Promise<ConnectError> {
  return (await ctx.limits.account.tryTake(subjectKey(ctx, hctx, method, subject)))
    ? refusal
    : new ConnectError(EXHAUSTED, Code.ResourceExhausted);
}
