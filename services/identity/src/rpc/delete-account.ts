import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { DeleteAccountRequest, DeleteAccountResponseSchema } from "@seeme/contracts/identity";
import { ACCOUNT_GONE, callerId } from "../caller-account.js";
import type { IdentityContext } from "../context.js";
import { recordEvent } from "@seeme/runtime/outbox";

export function deleteAccount(ctx: IdentityContext) {
  return async (_req: DeleteAccountRequest, hctx: HandlerContext): Promise<MessageInitShape<typeof DeleteAccountResponseSchema>> => {
    const accountId = callerId(hctx);
    const now = ctx.now();
    await ctx.db.$transaction(async (tx) => {
      // Sessions and challenges go with the account (ON DELETE CASCADE). Only the
      // transaction that actually removed the row writes the event: exactly once.
      const { count } = await tx.account.deleteMany({ where: { id: accountId } });
      if (count !== 1) throw new ConnectError(ACCOUNT_GONE, Code.Unauthenticated);
      await recordEvent(tx, "accountDeleted", { accountId, deleteTime: timestampFromDate(now) }, { createdAt: now });
    });
    ctx.publishEvents();
    ctx.log.info({ accountId }, "account deleted");
    return { deleteTime: timestampFromDate(now) };
  };
}
