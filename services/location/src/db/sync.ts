import type { Queryable } from "./client.js";
import { Prisma } from "./generated/client.js";
import { inboxEntry, inboxRows, type InboxEntry, type InboxRow } from "./inbox.js";

export interface SyncInput {
  accountId: string;
  now: Date;
  /** Outgoing packets in request order; pairIDs are recipients' (the caller's peers'). */
  outgoing: Array<{ pairId: string; packetId: number; blob: Uint8Array; urgent: boolean }>;
  /** Distinct recipient pairIDs of `outgoing`. */
  sendTo: string[];
  /** Acknowledged packets under the caller's own pairIDs (not "SERVER"). */
  acks: Array<{ pairId: string; packetId: number }>;
  /** Distinct pairIDs of `acks`. */
  receiveUnder: string[];
  /** Server message ids acknowledged in the same request: left out of the inbox read. */
  serverAcks: number[];
  /** Most inbox entries to read; null reads none. */
  inboxLimit: number | null;
}

export interface SyncOutcome {
  /** False when a pairID is not (or no longer) the caller's to use: nothing was changed then. */
  allowed: boolean;
  /** Newly stored packets, in insertion order, with their recipient account. */
  stored: Array<{ pairId: string; packetId: number; accountId: string; expiresAt: Date }>;
  /** Acknowledged packets that were deleted now. */
  deleted: Array<{ pairId: string; packetId: number }>;
  /** Receipts for packets the caller sent, reported once and then dropped. */
  delivered: Array<{ pairId: string; packetId: number }>;
  /** Inbox entries, oldest first. */
  inbox: InboxEntry[];
}

interface Row extends InboxRow {
  tag: "allowed" | "stored" | "deleted" | "delivered" | "inbox";
  account_id: string | null;
}

/**
 * A whole Sync in one statement, so one database round trip and atomic without
 * a transaction:
 * - the caller's routes to every recipient pairID are locked (in pairID order,
 *   so concurrent senders cannot deadlock) and every acknowledged pairID must be
 *   the caller's own; if any is missing, nothing below changes anything;
 * - every outgoing packet not queued now and not waiting as a delivery receipt
 *   is stored, in any order (a retry of a lower id from another process must
 *   not be dropped while reported received, SPEC §4). A resend of a packet
 *   still queued, or delivered but not yet reported to its sender, is stored
 *   once. A packet whose receipt was already reported is forgotten, so its
 *   resend is stored again: the recipient SDK's replay guard rejects it, which
 *   beats remembering every packet id forever. (A concurrent acknowledgement
 *   committed after this statement's snapshot can cause the same duplicate.)
 * - acknowledged packets are deleted, each leaving a receipt for its sender;
 * - the caller's own receipts are taken;
 * - the inbox is read as it stands after this request: the statement's snapshot
 *   still holds the packets and server messages acknowledged here, so they are
 *   left out explicitly.
 */
export async function applySync(db: Queryable, input: SyncInput): Promise<SyncOutcome> {
  const { accountId, now } = input;
  const inbox = input.inboxLimit === null ? Prisma.empty : Prisma.sql`
    UNION ALL
    SELECT 'inbox', w.pair_id, w.packet_id, NULL, w.blob, w.type, w.sub_type, w.text, w.stored_at, w.expires_at, w.kind, w.seq
      FROM (
        SELECT * FROM (${inboxRows(accountId, now)}) waiting
         WHERE (SELECT allowed FROM verdict)
           AND NOT EXISTS (SELECT 1 FROM acked a WHERE a.pair_id = waiting.pair_id AND a.packet_id = waiting.packet_id)
           AND NOT (waiting.kind = 0 AND waiting.packet_id = ANY(${input.serverAcks}::bigint[]))
         ORDER BY stored_at, kind, seq
         LIMIT ${input.inboxLimit}
      ) w`;
  const rows = await db.$queryRaw<Row[]>`
    WITH outgoing AS (
      SELECT * FROM unnest(${input.outgoing.map((p) => p.pairId)}::text[], ${input.outgoing.map((p) => p.packetId)}::bigint[],
                           ${input.outgoing.map((p) => p.blob)}::bytea[], ${input.outgoing.map((p) => p.urgent)}::boolean[])
                    WITH ORDINALITY AS o(pair_id, packet_id, blob, urgent, ord)
    ), locked AS (
      SELECT pair_id, account_id, peer_pair_id, packet_life_ms FROM route
       WHERE pair_id = ANY(${input.sendTo}::text[]) AND peer_account_id = ${accountId}
       ORDER BY pair_id FOR UPDATE
    ), verdict AS (
      SELECT (SELECT count(*) FROM locked) = ${input.sendTo.length}
         AND (SELECT count(*) FROM route WHERE pair_id = ANY(${input.receiveUnder}::text[]) AND account_id = ${accountId}) = ${input.receiveUnder.length}
         AS allowed
    ), fresh AS (
      SELECT o.pair_id, o.packet_id, o.blob, o.urgent, o.ord, l.peer_pair_id, l.account_id,
             ${now}::timestamptz + l.packet_life_ms * interval '1 millisecond' AS expires_at
        FROM outgoing o JOIN locked l ON l.pair_id = o.pair_id
       WHERE (SELECT allowed FROM verdict)
         AND NOT EXISTS (SELECT 1 FROM delivery_receipt d WHERE d.recipient_pair_id = o.pair_id AND d.packet_id = o.packet_id)
    ), stored AS (
      INSERT INTO packet (recipient_pair_id, packet_id, sender_pair_id, blob, stored_at, expires_at, urgent)
      SELECT pair_id, packet_id, peer_pair_id, blob, ${now}, expires_at, urgent FROM fresh ORDER BY ord
      ON CONFLICT DO NOTHING
      RETURNING recipient_pair_id, packet_id, expires_at, seq
    ), acked AS (
      SELECT * FROM unnest(${input.acks.map((a) => a.pairId)}::text[], ${input.acks.map((a) => a.packetId)}::bigint[]) AS a(pair_id, packet_id)
    ), deleted AS (
      DELETE FROM packet p USING acked a
       WHERE (SELECT allowed FROM verdict) AND p.recipient_pair_id = a.pair_id AND p.packet_id = a.packet_id
      RETURNING p.recipient_pair_id, p.packet_id, p.sender_pair_id
    ), receipts AS (
      INSERT INTO delivery_receipt (recipient_pair_id, packet_id, sender_pair_id, acked_at)
      SELECT recipient_pair_id, packet_id, sender_pair_id, ${now} FROM deleted
      ON CONFLICT DO NOTHING
    ), delivered AS (
      DELETE FROM delivery_receipt d USING route r
       WHERE (SELECT allowed FROM verdict) AND r.pair_id = d.sender_pair_id AND r.account_id = ${accountId}
      RETURNING d.recipient_pair_id, d.packet_id
    )
    SELECT 'allowed' AS tag, NULL::text AS pair_id, NULL::bigint AS packet_id, NULL::text AS account_id, NULL::bytea AS blob,
           0 AS type, 0 AS sub_type, '' AS text, NULL::timestamptz AS stored_at, NULL::timestamptz AS expires_at,
           (SELECT allowed FROM verdict)::int AS kind, NULL::bigint AS seq
    UNION ALL
    SELECT 'stored', s.recipient_pair_id, s.packet_id, l.account_id, NULL, 0, 0, '', NULL, s.expires_at, 0, s.seq
      FROM stored s JOIN locked l ON l.pair_id = s.recipient_pair_id
    UNION ALL
    SELECT 'deleted', recipient_pair_id, packet_id, NULL, NULL, 0, 0, '', NULL, NULL, 0, NULL FROM deleted
    UNION ALL
    SELECT 'delivered', recipient_pair_id, packet_id, NULL, NULL, 0, 0, '', NULL, NULL, 0, NULL FROM delivered
    ${inbox}`;

  const outcome: SyncOutcome = { allowed: false, stored: [], deleted: [], delivered: [], inbox: [] };
  const stored: Array<{ seq: bigint; packet: SyncOutcome["stored"][number] }> = [];
  for (const row of rows) {
    switch (row.tag) {
      case "allowed":
        outcome.allowed = row.kind === 1;
        break;
      case "stored":
        stored.push({ seq: row.seq, packet: { pairId: row.pair_id, packetId: Number(row.packet_id), accountId: row.account_id!, expiresAt: row.expires_at } });
        break;
      case "deleted":
        outcome.deleted.push({ pairId: row.pair_id, packetId: Number(row.packet_id) });
        break;
      case "delivered":
        outcome.delivered.push({ pairId: row.pair_id, packetId: Number(row.packet_id) });
        break;
      case "inbox":
        outcome.inbox.push(inboxEntry(row));
        break;
    }
  }
  outcome.stored = stored.sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0)).map((entry) => entry.packet);
  // UNION ALL keeps each branch's rows together but does not promise their order.
  outcome.inbox.sort((a, b) => a.cursor.storedAt.getTime() - b.cursor.storedAt.getTime() || a.cursor.kind - b.cursor.kind || (a.cursor.seq < b.cursor.seq ? -1 : a.cursor.seq > b.cursor.seq ? 1 : 0));
  return outcome;
}
