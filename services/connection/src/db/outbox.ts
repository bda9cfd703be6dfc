import type { EventKey, OutboxStore } from "@seeme/runtime/outbox";
import type { Db } from "./client.js";

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
