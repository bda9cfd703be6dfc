import type { HandlerContext } from "@connectrpc/connect";
import { CLIENT_ADDRESS_HEADER } from "@seeme/runtime/rate-limit";
import type { IdentityContext } from "./context.js";

/** The gateway sets the client's address; calls that bypass it share one bucket. */
function clientAddress(hctx: HandlerContext): string {
  return hctx.requestHeader.get(CLIENT_ADDRESS_HEADER) ?? "unknown";
}

/** ResourceExhausted once this client address has used up `method`'s budget. */
export async function limitAddress(ctx: IdentityContext, hctx: HandlerContext, method: string): Promise<void> {
  await ctx.limits.address.take(`${method}:${clientAddress(hctx)}`, "this network address");
}

/** ResourceExhausted once `subject` (an account id or a hex public key) has used up `method`'s budget. */
export async function limitSubject(ctx: IdentityContext, method: string, subject: string): Promise<void> {
  await ctx.limits.account.take(`${method}:${subject}`, "this account");
}
