import { MAX_ACKS_PER_SYNC } from "@seeme/contracts/protocol";
import type { DirectSql } from "@seeme/runtime/db";
import { Prisma } from "./generated/client.js";
import { inboxEntry, inboxRows, type InboxEntry, type InboxRow } from "./inbox.js";

export interface SyncInput {
  accountId: string;
  now: Date;
  /**
   * Outgoing packets in request order; pairIDs are recipients' (the caller's peers').
   * releaseAt (in the future) holds a packet until then; slot 0 is none; urgent is
   * the sender's Web Push urgency bit.
   */
  outgoing: Array<{
    pairId: string;
    packetId: number;
    blob: Uint8Array;
    releaseAt: Date | null;
    slot: number;
    urgent: boolean;
  }>;
  /** Distinct recipient pairIDs of `outgoing`. */
  sendTo: string[];
  /** Acknowledged packets under the caller's own pairIDs (not "SERVER"). */
  acks: Array<{ pairId: string; packetId: number }>;
  /** Distinct pairIDs of `acks`. */
  receiveUnder: string[];
  /** Receipts the caller acknowledges having seen (receipts_seen): deleted, not reported again. */
  receiptsSeen: Array<{ pairId: string; packetId: number }>;
  /** Server message ids acknowledged in the same request: left out of the inbox read. */
  serverAcks: number[];
  /** Most inbox entries to read; null reads none. */
  inboxLimit: number | null;
}

export interface SyncOutcome {
  /** False when a pairID is not (or no longer) the caller's to use: nothing was changed then. */
  allowed: boolean;
  /** Newly stored packets, in insertion order, with their recipient account; held ones are not announced. */
  stored: Array<{ pairId: string; packetId: number; accountId: string; expiresAt: Date; held: boolean }>;
  /** Acknowledged packets that were deleted now. */
  deleted: Array<{ pairId: string; packetId: number }>;
  /** Receipts for packets the caller sent, reported until the caller acknowledges them. */
  delivered: Array<{ pairId: string; packetId: number }>;
  /** Receipts for packets the caller sent that a newer one in their slot replaced, reported likewise. */
  superseded: Array<{ pairId: string; packetId: number }>;
  /** Inbox entries, oldest first. */
  inbox: InboxEntry[];
}

/** Most receipts one response reports: what one request may acknowledge (MAX_ACKS_PER_SYNC). */
const MAX_RECEIPTS = MAX_ACKS_PER_SYNC;

export interface SyncRow extends InboxRow {
  tag: "allowed" | "stored" | "deleted" | "delivered" | "superseded" | "inbox";
  account_id: string | null;
}

/**
 * A whole Sync in one statement, so one database round trip and atomic without
 * a transaction:
 * - the caller's routes to every recipient pairID are locked (in pairID order,
 *   so concurrent senders cannot deadlock) and every acknowledged pairID must be
 *   the caller's own; if any is missing, nothing below changes anything;
 * - every outgoing packet whose (pairID, packetID) was never stored within the
 *   last seven days is a candidate, in any order (a retry of a lower id from
 *   another process must not be dropped while reported received, SPEC §4).
 *   What was stored is remembered in seen_packet (folded into seen_range by the
 *   sweeper, see seen.ts) whatever happens to it later (delivered, receipt
 *   reported, expired, superseded, cancelled), so a resend is never stored, nor
 *   delivered, twice (SPEC §8). (A concurrent store committed after this
 *   statement's snapshot is caught by the packet's primary key.)
 * - latest-value slots: per (pairID, slot) only the highest packet id among the
 *   candidates and the queued packets stays; the others are dropped (queued
 *   ones deleted) and leave a "superseded" receipt for their sender;
 * - a held packet (release_at) is stored with stored_at = its release time, so
 *   no inbox read, acknowledgement or hint sees it before then;
 * - acknowledged (visible) packets are deleted, each leaving a receipt;
 * - the receipts the caller acknowledges (receipts_seen) are deleted, and the
 *   rest of its receipts are reported (at most MAX_RECEIPTS, so one request can
 *   acknowledge them all): a receipt outlives a lost response (at least once);
 * - the inbox is read as it stands after this request: the statement's snapshot
 *   still holds the packets and server messages acknowledged here, so they are
 *   left out explicitly.
 */
export async function applySync(db: DirectSql, input: SyncInput): Promise<SyncOutcome> {
  return readOutcome(await db.query<SyncRow>(syncStatement(input)));
}

/**
 * The Sync statement for one request. applySync runs it on `pg` directly, not
 * through Prisma (whose client cost 1.9–2.3× pg's CPU for it, BENCHMARKS.md);
 * Prisma.sql still builds it (`text` with $n placeholders, `values`).
 *
 * Only the parts a request needs are in its statement: one that only
 * acknowledges has no outgoing CTEs, one that only sends has no acknowledgement
 * CTEs. PostgreSQL sets up every node of a plan on each run, used or not, so
 * the full statement cost a one-packet Sync about as much to start as to run.
 * At most 16 shapes (sending, acknowledging, receipts seen, inbox read), each a
 * named statement with its plan cached.
 */
export function syncStatement(input: SyncInput): Prisma.Sql {
  const { accountId, now } = input;
  const sending = input.outgoing.length > 0;
  const acking = input.acks.length > 0;
  const seeing = input.receiptsSeen.length > 0;
  const ctes: Prisma.Sql[] = [];
  if (sending)
    ctes.push(Prisma.sql`outgoing AS (
      SELECT * FROM unnest(${input.outgoing.map((p) => p.pairId)}::text[], ${input.outgoing.map((p) => p.packetId)}::bigint[],
                           ${input.outgoing.map((p) => p.blob)}::bytea[], ${input.outgoing.map((p) => p.releaseAt)}::timestamptz[],
                           ${input.outgoing.map((p) => p.slot)}::smallint[], ${input.outgoing.map((p) => p.urgent)}::boolean[])
             WITH ORDINALITY AS o(pair_id, packet_id, blob, release_at, slot, urgent, ord)
    ), locked AS (
      SELECT pair_id, account_id, peer_pair_id, packet_life_ms FROM route
       WHERE pair_id = ANY(${input.sendTo}::text[]) AND peer_account_id = ${accountId}
       ORDER BY pair_id FOR UPDATE
    )`);
  const checks = [
    ...(sending ? [Prisma.sql`(SELECT count(*) FROM locked) = ${input.sendTo.length}`] : []),
    ...(acking
      ? [
          Prisma.sql`(SELECT count(*) FROM route WHERE pair_id = ANY(${input.receiveUnder}::text[]) AND account_id = ${accountId}) = ${input.receiveUnder.length}`,
        ]
      : []),
  ];
  ctes.push(
    Prisma.sql`verdict AS (SELECT ${checks.length > 0 ? Prisma.join(checks, " AND ") : Prisma.sql`true`} AS allowed)`,
  );
  if (sending)
    ctes.push(Prisma.sql`candidate AS (
      SELECT o.pair_id, o.packet_id, o.blob, o.urgent, o.ord, o.slot, o.release_at IS NOT NULL AS held, l.peer_pair_id, l.account_id,
             coalesce(o.release_at, ${now}::timestamptz) AS visible_at,
             coalesce(o.release_at, ${now}::timestamptz) + l.packet_life_ms * interval '1 millisecond' AS expires_at
        FROM outgoing o JOIN locked l ON l.pair_id = o.pair_id
       WHERE (SELECT allowed FROM verdict)
         AND NOT EXISTS (SELECT 1 FROM seen_packet s WHERE s.recipient_pair_id = o.pair_id AND s.packet_id = o.packet_id)
         AND NOT EXISTS (SELECT 1 FROM seen_range r WHERE r.recipient_pair_id = o.pair_id AND o.packet_id BETWEEN r.first AND r.last)
         AND NOT EXISTS (SELECT 1 FROM delivery_receipt d WHERE d.recipient_pair_id = o.pair_id AND d.packet_id = o.packet_id)
    ), slot_top AS (
      SELECT pair_id, slot, max(packet_id) AS top FROM (
        SELECT pair_id, slot, packet_id FROM candidate WHERE slot <> 0
        UNION ALL
        SELECT p.recipient_pair_id, p.slot, p.packet_id
          FROM packet p JOIN (SELECT DISTINCT pair_id, slot FROM candidate WHERE slot <> 0) cs
            ON cs.pair_id = p.recipient_pair_id AND cs.slot = p.slot
      ) slotted GROUP BY pair_id, slot
    ), fresh AS (
      SELECT c.* FROM candidate c
       WHERE c.slot = 0 OR c.packet_id = (SELECT t.top FROM slot_top t WHERE t.pair_id = c.pair_id AND t.slot = c.slot)
    ), stillborn AS (
      SELECT c.pair_id, c.packet_id, c.peer_pair_id FROM candidate c
       WHERE c.slot <> 0 AND c.packet_id < (SELECT t.top FROM slot_top t WHERE t.pair_id = c.pair_id AND t.slot = c.slot)
    ), replaced AS (
      DELETE FROM packet p USING slot_top t
       WHERE (SELECT allowed FROM verdict) AND p.recipient_pair_id = t.pair_id AND p.slot = t.slot AND p.packet_id < t.top
      RETURNING p.recipient_pair_id, p.packet_id, p.sender_pair_id
    ), stored AS (
      INSERT INTO packet (recipient_pair_id, packet_id, sender_pair_id, blob, stored_at, expires_at, held, slot, urgent)
      SELECT pair_id, packet_id, peer_pair_id, blob, visible_at, expires_at, held, slot, urgent FROM fresh ORDER BY ord
      ON CONFLICT DO NOTHING
      RETURNING recipient_pair_id, packet_id, expires_at, seq, held
    ), seen AS (
      INSERT INTO seen_packet (recipient_pair_id, packet_id, seen_at)
      SELECT pair_id, packet_id, visible_at FROM candidate
      ON CONFLICT DO NOTHING
    )`);
  if (acking)
    ctes.push(Prisma.sql`acked AS (
      SELECT * FROM unnest(${input.acks.map((a) => a.pairId)}::text[], ${input.acks.map((a) => a.packetId)}::bigint[]) AS a(pair_id, packet_id)
    ), deleted AS (
      -- A held packet cannot be acknowledged (so neither revealed nor cancelled) by guessing its id.
      -- The ANY conditions make the cached (generic) plan probe the primary key: joined with the
      -- unnest alone it scanned the whole table, dead rows of acknowledged packets included.
      DELETE FROM packet p
       WHERE (SELECT allowed FROM verdict)
         AND p.recipient_pair_id = ANY(${input.receiveUnder}::text[]) AND p.packet_id = ANY(${input.acks.map((a) => a.packetId)}::bigint[])
         AND EXISTS (SELECT 1 FROM acked a WHERE a.pair_id = p.recipient_pair_id AND a.packet_id = p.packet_id)
         AND p.stored_at <= ${now}
      RETURNING p.recipient_pair_id, p.packet_id, p.sender_pair_id
    )`);
  const receipts = [
    ...(acking
      ? [Prisma.sql`SELECT recipient_pair_id, packet_id, sender_pair_id, ${now}::timestamptz, false FROM deleted`]
      : []),
    ...(sending
      ? [
          Prisma.sql`SELECT recipient_pair_id, packet_id, sender_pair_id, ${now}::timestamptz, true FROM replaced`,
          Prisma.sql`SELECT pair_id, packet_id, peer_pair_id, ${now}::timestamptz, true FROM stillborn`,
        ]
      : []),
  ];
  if (receipts.length > 0)
    ctes.push(Prisma.sql`receipts AS (
      INSERT INTO delivery_receipt (recipient_pair_id, packet_id, sender_pair_id, acked_at, superseded)
      ${Prisma.join(receipts, " UNION ALL ")}
      ON CONFLICT DO NOTHING
    )`);
  if (seeing)
    ctes.push(Prisma.sql`receipt_seen AS (
      SELECT * FROM unnest(${input.receiptsSeen.map((r) => r.pairId)}::text[], ${input.receiptsSeen.map((r) => r.packetId)}::bigint[])
             AS rs(pair_id, packet_id)
    ), receipt_done AS (
      -- ANY conditions for the primary key, as in deleted.
      DELETE FROM delivery_receipt d USING route r
       WHERE (SELECT allowed FROM verdict)
         AND d.recipient_pair_id = ANY(${[...new Set(input.receiptsSeen.map((r) => r.pairId))]}::text[])
         AND d.packet_id = ANY(${input.receiptsSeen.map((r) => r.packetId)}::bigint[])
         AND EXISTS (SELECT 1 FROM receipt_seen rs WHERE rs.pair_id = d.recipient_pair_id AND rs.packet_id = d.packet_id)
         AND r.pair_id = d.sender_pair_id AND r.account_id = ${accountId}
    )`);
  ctes.push(Prisma.sql`delivered AS (
      -- The snapshot still holds the receipts deleted just above: left out explicitly.
      SELECT d.recipient_pair_id, d.packet_id, d.superseded FROM delivery_receipt d JOIN route r ON r.pair_id = d.sender_pair_id
       WHERE (SELECT allowed FROM verdict) AND r.account_id = ${accountId}
         ${seeing ? Prisma.sql`AND NOT EXISTS (SELECT 1 FROM receipt_seen rs WHERE rs.pair_id = d.recipient_pair_id AND rs.packet_id = d.packet_id)` : Prisma.empty}
       ORDER BY d.recipient_pair_id, d.packet_id
       LIMIT ${MAX_RECEIPTS}
    )`);

  const rows = [
    Prisma.sql`SELECT 'allowed' AS tag, NULL::text AS pair_id, NULL::bigint AS packet_id, NULL::text AS account_id, NULL::bytea AS blob,
           0 AS type, 0 AS sub_type, '' AS text, NULL::timestamptz AS stored_at, NULL::timestamptz AS expires_at,
           (SELECT allowed FROM verdict)::int AS kind, NULL::bigint AS seq`,
  ];
  if (sending)
    rows.push(Prisma.sql`SELECT 'stored', s.recipient_pair_id, s.packet_id, l.account_id, NULL, 0, 0, '', NULL, s.expires_at, s.held::int, s.seq
      FROM stored s JOIN locked l ON l.pair_id = s.recipient_pair_id`);
  if (acking)
    rows.push(
      Prisma.sql`SELECT 'deleted', recipient_pair_id, packet_id, NULL, NULL, 0, 0, '', NULL, NULL, 0, NULL FROM deleted`,
    );
  rows.push(Prisma.sql`SELECT CASE WHEN superseded THEN 'superseded' ELSE 'delivered' END, recipient_pair_id, packet_id, NULL, NULL, 0, 0, '', NULL, NULL, 0, NULL
      FROM delivered`);
  if (input.inboxLimit !== null)
    rows.push(Prisma.sql`SELECT 'inbox', w.pair_id, w.packet_id, NULL, w.blob, w.type, w.sub_type, w.text, w.stored_at, w.expires_at, w.kind, w.seq
      FROM (
        SELECT * FROM (${inboxRows(accountId, now)}) waiting
         WHERE (SELECT allowed FROM verdict)
           ${acking ? Prisma.sql`AND NOT EXISTS (SELECT 1 FROM acked a WHERE a.pair_id = waiting.pair_id AND a.packet_id = waiting.packet_id)` : Prisma.empty}
           AND NOT (waiting.kind = 0 AND waiting.packet_id = ANY(${input.serverAcks}::bigint[]))
         ORDER BY stored_at, kind, seq
         LIMIT ${input.inboxLimit}
      ) w`);
  return Prisma.sql`
    WITH ${Prisma.join(ctes, ", ")}
    ${Prisma.join(rows, " UNION ALL ")}`;
}

/** The Sync statement's rows as an outcome. */
export function readOutcome(rows: SyncRow[]): SyncOutcome {
  const outcome: SyncOutcome = { allowed: false, stored: [], deleted: [], delivered: [], superseded: [], inbox: [] };
  const stored: Array<{ seq: bigint; packet: SyncOutcome["stored"][number] }> = [];
  for (const row of rows) {
    switch (row.tag) {
      case "allowed":
        outcome.allowed = row.kind === 1;
        break;
      case "stored":
        stored.push({
          seq: row.seq,
          packet: {
            pairId: row.pair_id,
            packetId: Number(row.packet_id),
            accountId: row.account_id!,
            expiresAt: row.expires_at,
            held: row.kind === 1,
          },
        });
        break;
      case "deleted":
        outcome.deleted.push({ pairId: row.pair_id, packetId: Number(row.packet_id) });
        break;
      case "delivered":
        outcome.delivered.push({ pairId: row.pair_id, packetId: Number(row.packet_id) });
        break;
      case "superseded":
        outcome.superseded.push({ pairId: row.pair_id, packetId: Number(row.packet_id) });
        break;
      case "inbox":
        outcome.inbox.push(inboxEntry(row));
        break;
    }
  }
  // A bigint difference keeps its sign as a Number, however far apart the two seqs are.
  outcome.stored = stored.sort((a, b) => Number(a.seq - b.seq)).map((entry) => entry.packet);
  // UNION ALL keeps each branch's rows together but does not promise their order.
  outcome.inbox.sort(
    (a, b) =>
      a.cursor.storedAt.getTime() - b.cursor.storedAt.getTime() ||
      a.cursor.kind - b.cursor.kind ||
      Number(a.cursor.seq - b.cursor.seq),
  );
  return outcome;
}
