import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { AccountSchema } from "@seeme/contracts/identity";
import type { Account } from "./db/generated/client.js";

export function accountMessage(row: Account): MessageInitShape<typeof AccountSchema> {
  return {
    accountId: row.id,
    publicKey: row.publicKey,
    createTime: timestampFromDate(row.createdAt),
    keyRotateTime: timestampFromDate(row.keyRotatedAt),
  };
}
