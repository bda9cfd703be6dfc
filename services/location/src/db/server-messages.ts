import type { DirectSql } from "@seeme/runtime/db";
import type { Queryable } from "./client.js";
import { Prisma } from "./generated/client.js";

/** SPEC §6 primary types of server-created messages. */
export const CONNECTION_MANAGEMENT = 5;
export const SERVER_MESSAGE = 6;

/** SPEC §6 connection management sub-types the relay sends. */
export const NOTICE = { confirmed: 3, expired: 4, broken: 5 } as const;

export interface NewServerMessage {
  type: number;
  subType: number;
  text: string;
  /** Distinct recipients; null for a broadcast to every account. */
  accountIds: string[] | null;
  storedAt: Date;
  expiresAt: Date;
}

/** Queues a server message; its id is the packet id it carries under "SERVER". */
export async function insertServerMessage(tx: Queryable, message: NewServerMessage): Promise<number> {
  const { id } = await tx.serverMessage.create({
    data: {
      type: message.type,
      subType: message.subType,
      text: message.text,
      broadcast: message.accountIds === null,
      storedAt: message.storedAt,
      expiresAt: message.expiresAt,
    },
    select: { id: true },
  });
  if (message.accountIds !== null) {
    await tx.serverMessageRecipient.createMany({
      data: message.accountIds.map((accountId) => ({ messageId: id, accountId })),
    });
  }
  return id;
}

/** Addressed messages nobody waits for any more. */
export async function deleteOrphanedMessages(tx: Queryable): Promise<void> {
  await tx.serverMessage.deleteMany({ where: { broadcast: false, recipients: { none: {} } } });
}

// Server message ids come from an int4 sequence; larger acknowledged ids cannot exist.
const MAX_MESSAGE_ID = 2_147_483_647;

/**
 * Acknowledges server messages for an account: addressed ones lose the account
 * as a recipient (and go once nobody waits), broadcasts record the ack.
 * Returns the ids that were pending for the account. Part of Sync, so on `pg`
 * directly, in the Sync statement's transaction (db/sync.ts).
 */
export async function ackServerMessages(tx: DirectSql, accountId: string, ids: number[]): Promise<number[]> {
  const valid = ids.filter((id) => id <= MAX_MESSAGE_ID);
  if (valid.length === 0) return [];
  const addressed = await tx.query<{ message_id: number }>(Prisma.sql`
    DELETE FROM server_message_recipient WHERE account_id = ${accountId} AND message_id = ANY(${valid}::int[])
    RETURNING message_id`);
  if (addressed.length > 0)
    await tx.query(Prisma.sql`
      DELETE FROM server_message m
       WHERE NOT m.broadcast AND m.id = ANY(${addressed.map((row) => row.message_id)}::int[])
         AND NOT EXISTS (SELECT 1 FROM server_message_recipient r WHERE r.message_id = m.id)`);
  const broadcast = await tx.query<{ message_id: number }>(Prisma.sql`
    INSERT INTO server_message_ack (message_id, account_id)
    SELECT id, ${accountId} FROM server_message WHERE broadcast AND id = ANY(${valid}::int[])
    ON CONFLICT DO NOTHING RETURNING message_id`);
  return [...addressed, ...broadcast].map((row) => row.message_id).sort((a, b) => a - b);
}
