import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { callerOf } from "@seeme/runtime/caller";
import type { IdentityContext } from "./context.js";
import type { Account } from "./db/generated/client.js";
import { isAccountId } from "./validate.js";

export const ACCOUNT_GONE = "account no longer exists";

/** The signed-in caller's id; Unauthenticated when there is none. */
export function callerId(hctx: HandlerContext): string {
  const id = callerOf(hctx);
  if (!isAccountId(id)) throw new ConnectError(ACCOUNT_GONE, Code.Unauthenticated);
  return id;
}

/** The signed-in caller's account; Unauthenticated once it is deleted (the gateway may cache a session briefly). */
export async function callerAccount(ctx: IdentityContext, hctx: HandlerContext): Promise<Account> {
  const account = await ctx.db.account.findUnique({ where: { id: callerId(hctx) } });
  if (!account) throw new ConnectError(ACCOUNT_GONE, Code.Unauthenticated);
  return account;
}
