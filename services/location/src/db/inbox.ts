import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { IncomingPacketSchema, type IncomingPacket } from "@seeme/contracts/location";
import type { Queryable } from "./client.js";
import { Prisma } from "./generated/client.js";
import { oldestVisible } from "./retention.js";

/** The pair_id server messages carry (SPEC §4). */
export const SERVER_PAIR_ID = "SERVER";

/** Position in an account's inbox: store time, then server messages before packets, then insertion order. */
export interface InboxCursor {
  storedAt: Date;
  kind: number;
  seq: bigint;
}

export interface InboxEntry {
  packet: IncomingPacket;
  cursor: InboxCursor;
}

export interface InboxRow {
  pair_id: string;
  packet_id: bigint;
  blob: Uint8Array | null;
  type: number;
  sub_type: number;
  text: string;
  stored_at: Date;
  expires_at: Date;
  kind: number;
  seq: bigint;
}

const START: InboxCursor = { storedAt: new Date(0), kind: 0, seq: -1n };

/**
 * The rows waiting for an account after `after`, unordered and unlimited:
 * packets queued for the pairIDs it receives under and the server messages
 * addressed or broadcast to it. Expired packets, and anything older than seven
 * days, are never included even before the sweeper has deleted them; nor is a
 * held packet before its release (its stored_at is the release time).
 */
export function inboxRows(accountId: string, now: Date, after: InboxCursor = START): Prisma.Sql {
  const oldest = oldestVisible(now);
  return Prisma.sql`
    SELECT * FROM (
      SELECT p.recipient_pair_id AS pair_id, p.packet_id, p.blob, 0 AS type, 0 AS sub_type, '' AS text,
             p.stored_at, p.expires_at, 1 AS kind, p.seq
        FROM packet p JOIN route r ON r.pair_id = p.recipient_pair_id
       WHERE r.account_id = ${accountId} AND p.expires_at > ${now} AND p.stored_at > ${oldest} AND p.stored_at <= ${now}
      UNION ALL
      SELECT ${SERVER_PAIR_ID}, m.id::bigint, NULL::bytea, m.type, m.sub_type, m.text,
             m.stored_at, m.expires_at, 0 AS kind, m.id::bigint
        FROM server_message m
       WHERE m.expires_at > ${now} AND m.stored_at > ${oldest}
         AND (EXISTS (SELECT 1 FROM server_message_recipient x WHERE x.message_id = m.id AND x.account_id = ${accountId})
              OR (m.broadcast AND NOT EXISTS (SELECT 1 FROM server_message_ack a WHERE a.message_id = m.id AND a.account_id = ${accountId})))
    ) inbox
    WHERE (stored_at, kind, seq) > (${after.storedAt}, ${after.kind}, ${after.seq})`;
}

/** One inbox row as the entry Sync and Subscribe send. */
export function inboxEntry(row: InboxRow): InboxEntry {
  return {
    packet: create(IncomingPacketSchema, {
      pairId: row.pair_id,
      packetId: Number(row.packet_id),
      blob: row.blob ?? new Uint8Array(0),
      type: row.type,
      subType: row.sub_type,
      text: row.text,
      storeTime: timestampFromDate(row.stored_at),
      expireTime: timestampFromDate(row.expires_at),
    }),
    cursor: { storedAt: row.stored_at, kind: row.kind, seq: row.seq },
  };
}

/** What waits for an account, oldest first (see inboxRows). */
export async function readInbox(
  db: Queryable,
  accountId: string,
  now: Date,
  limit: number,
  after: InboxCursor = START,
): Promise<InboxEntry[]> {
  const rows = await db.$queryRaw<
    InboxRow[]
  >`${inboxRows(accountId, now, after)} ORDER BY stored_at, kind, seq LIMIT ${limit}`;
  return rows.map(inboxEntry);
}

/** Builds the live-push form of a stored message. */
export function incomingPacket(fields: {
  pairId: string;
  packetId: number;
  blob?: Uint8Array;
  type?: number;
  subType?: number;
  text?: string;
  storedAt: Date;
  expiresAt: Date;
}): IncomingPacket {
  return create(IncomingPacketSchema, {
    pairId: fields.pairId,
    packetId: fields.packetId,
    blob: fields.blob ?? new Uint8Array(0),
    type: fields.type ?? 0,
    subType: fields.subType ?? 0,
    text: fields.text ?? "",
    storeTime: timestampFromDate(fields.storedAt),
    expireTime: timestampFromDate(fields.expiresAt),
  });
}
