import { randomUUID } from "node:crypto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { events } from "@seeme/contracts/subjects";
import { encodeEvent, type EventKey, type OutboxStore } from "@seeme/runtime/outbox";
import type { Db, Tx } from "./client.js";

type EventInit<K extends EventKey> = Omit<MessageInitShape<(typeof events)[K]["schema"]>, "eventId" | "$typeName">;

/**
 * Writes an event in the caller's transaction, so it exists exactly when the
 * change it announces does. Its id is both event_id and the JetStream msgId.
 */
export async function recordEvent<K extends EventKey>(tx: Tx, key: K, message: EventInit<K>): Promise<string> {
  const id = randomUUID();
  const payload = encodeEvent(key, { ...message, eventId: id } as MessageInitShape<(typeof events)[K]["schema"]>);
  // Prisma wants an ArrayBuffer-backed array; protobuf-es may hand out a view of a shared one.
  await tx.outboxEvent.create({ data: { id, event: key, payload: new Uint8Array(payload) } });
  return id;
}

/**
 * Published rows are deleted rather than marked: their payloads link accounts
 * to pairIDs, which must not outlive the connection.
 */
export function outboxStore(db: Db): OutboxStore {
  return {
    async fetchUnpublished(limit) {
      const rows = await db.outboxEvent.findMany({ orderBy: { seq: "asc" }, take: limit });
      return rows.map((row) => ({ id: row.id, event: row.event as EventKey, payload: row.payload }));
    },
    async markPublished(ids) {
      await db.outboxEvent.deleteMany({ where: { id: { in: ids } } });
    },
  };
}
