import type { HandlerContext } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { GetAccountRequest, GetAccountResponseSchema } from "@seeme/contracts/identity";
import { accountMessage } from "../account-message.js";
import { callerAccount } from "../caller-account.js";
import type { IdentityContext } from "../context.js";

export function getAccount(ctx: IdentityContext) {
  return async (
    _req: GetAccountRequest,
    hctx: HandlerContext,
  ): Promise<MessageInitShape<typeof GetAccountResponseSchema>> => {
    return { account: accountMessage(await callerAccount(ctx, hctx)) };
  };
}
