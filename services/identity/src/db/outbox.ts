import { events } from "@seeme/contracts/subjects";
import type { EventKey, OutboxStore } from "@seeme/runtime/outbox";
import type { IdentityDb } from "./client.js";

/** Published rows are kept past JetStream's 10-minute duplicate window, then erased with the ids they carry. */
export const PUBLISHED_OUTBOX_RETENTION_MS = 60 * 60 * 1000;

function isEventKey(name: string): name is EventKey {
  return Object.hasOwn(events, name);
}

/** The relay's view of the identity outbox table. */
export function outboxStore(db: IdentityDb, now: () => Date): OutboxStore {
  return {
    async fetchUnpublished(limit) {
      const rows = await db.outboxEvent.findMany({
        where: { publishedAt: null },
        orderBy: { seq: "asc" },
        take: limit,
      });
      return rows.map((row) => {
        if (!isEventKey(row.event)) throw new Error(`outbox row ${row.id} names unknown event "${row.event}"`);
        return { id: row.id, event: row.event, payload: row.payload };
      });
    },
    async markPublished(ids) {
      await db.outboxEvent.updateMany({ where: { id: { in: ids } }, data: { publishedAt: now() } });
    },
  };
}
