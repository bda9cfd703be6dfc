import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { QueueServerMessageRequest, QueueServerMessageResponseSchema } from "@seeme/contracts/location";
import type { LocationContext } from "../context.js";
import { isCodeOf, SERVER_PAIR_ID, ServerMessage } from "@seeme/contracts/protocol";
import { invalid } from "@seeme/runtime/errors";
import { incomingPacket } from "../db/inbox.js";
import { MAX_RETENTION_MS } from "../db/retention.js";
import { insertServerMessage, SERVER_MESSAGE } from "../db/server-messages.js";
import { notifyInbox } from "../notify.js";

const MAX_TEXT_CHARS = 1000;
const MAX_ACCOUNTS = 10_000;

/** QueueServerMessage: an operator's type 6 message for every account or the listed ones (SPEC §6). */
export function queueServerMessage(ctx: LocationContext) {
  return async (req: QueueServerMessageRequest): Promise<MessageInitShape<typeof QueueServerMessageResponseSchema>> => {
    if (!isCodeOf(ServerMessage, req.subType)) throw invalid("sub_type must be a server message sub-type from 1 to 8");
    const text = req.text.trim();
    if (text === "") throw invalid("text is required");
    if (text.length > MAX_TEXT_CHARS) throw invalid(`text is longer than ${MAX_TEXT_CHARS} characters`);
    if (req.accountIds.length > MAX_ACCOUNTS) throw invalid(`account_ids lists more than ${MAX_ACCOUNTS} accounts`);
    if (req.accountIds.some((id) => id.trim() === "" || id.length > 128))
      throw invalid("account_ids must not contain empty or overlong ids");
    const now = ctx.now();
    const latest = now.getTime() + MAX_RETENTION_MS;
    const expiresAt = req.expireTime ? timestampDate(req.expireTime) : new Date(latest);
    // An int64 Timestamp can lie beyond what a Date holds; the Invalid Date it
    // gives (NaN) would pass both comparisons below.
    if (!Number.isFinite(expiresAt.getTime())) throw invalid("expire_time is out of range");
    if (expiresAt.getTime() <= now.getTime()) throw invalid("expire_time must be in the future");
    if (expiresAt.getTime() > latest) throw invalid("expire_time must be at most seven days ahead");

    const accountIds = req.accountIds.length > 0 ? [...new Set(req.accountIds)] : null;
    const id = await ctx.db.$transaction((tx) =>
      insertServerMessage(tx, {
        type: SERVER_MESSAGE,
        subType: req.subType,
        text,
        accountIds,
        storedAt: now,
        expiresAt,
      }),
    );
    const packet = incomingPacket({
      pairId: SERVER_PAIR_ID,
      packetId: id,
      type: SERVER_MESSAGE,
      subType: req.subType,
      text,
      storedAt: now,
      expiresAt,
    });
    if (accountIds === null) notifyInbox(ctx, null, [packet]);
    else for (const accountId of accountIds) notifyInbox(ctx, accountId, [packet]);
    ctx.log.info(
      { packetId: id, subType: req.subType, recipients: accountIds?.length ?? "all" },
      "server message queued",
    );
    return { packetId: id };
  };
}
