import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate, type DurationSchema } from "@bufbuild/protobuf/wkt";
import type { ConnectionSchema, RouteSchema } from "@seeme/contracts/connection";
import type { Connection } from "./db/client.js";

/** SPEC §1: connection keys should be regenerated every three months. */
export const REKEY_AFTER_MS = 90 * 24 * 60 * 60 * 1000;
/** SPEC §1: the server keeps a packet at most seven days. */
export const MAX_PACKET_LIFE_SECONDS = 7 * 24 * 60 * 60;

export function durationOf(seconds: number): MessageInitShape<typeof DurationSchema> {
  return { seconds: BigInt(seconds), nanos: 0 };
}

/** A connection as the relay needs it (both sides). */
export function toRoute(c: Connection): MessageInitShape<typeof RouteSchema> {
  return {
    connectionId: c.id,
    initiatorAccountId: c.initiatorAccountId,
    initiatorPairId: c.initiatorPairId,
    recipientAccountId: c.recipientAccountId,
    recipientPairId: c.recipientPairId,
    packetLife: durationOf(c.packetLifeSeconds),
    createTime: timestampFromDate(c.createdAt),
  };
}

/** One account's view of a connection it is a side of. */
export function toConnectionView(
  c: Connection,
  accountId: string,
  now: Date,
): MessageInitShape<typeof ConnectionSchema> {
  const isInitiator = c.initiatorAccountId === accountId;
  return {
    pairId: isInitiator ? c.initiatorPairId : c.recipientPairId,
    peerPairId: isInitiator ? c.recipientPairId : c.initiatorPairId,
    createTime: timestampFromDate(c.createdAt),
    rekeyDue: now.getTime() - c.createdAt.getTime() >= REKEY_AFTER_MS,
    packetLife: durationOf(c.packetLifeSeconds),
  };
}
