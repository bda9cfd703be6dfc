import type { IncomingPacket } from "@seeme/contracts/location";
import type { LocationContext } from "../../context.js";
import { incomingPacket } from "../../db/inbox.js";
import type { SyncInput, SyncOutcome } from "../../db/sync.js";
import { notifyInbox } from "../../notify.js";

/**
 * Stage 3 of Sync, after commit: hints the recipients' Subscribe streams with
 * what was stored. Held packets are left out: the due sweeper (release.ts)
 * announces each when it is released.
 */
export function notifyStored(ctx: LocationContext, input: SyncInput, outcome: SyncOutcome): void {
  const blobs = new Map(input.outgoing.map((packet) => [`${packet.pairId}/${packet.packetId}`, packet.blob]));
  const urgent = new Set(
    input.outgoing.filter((packet) => packet.urgent).map((packet) => `${packet.pairId}/${packet.packetId}`),
  );
  const fresh = new Map<string, IncomingPacket[]>();
  // Recipients with an urgent packet among these: their Web Push wake-up goes out at once.
  const urgentFor = new Set<string>();
  for (const packet of outcome.stored) {
    if (packet.held) continue;
    const list = fresh.get(packet.accountId) ?? [];
    list.push(
      incomingPacket({ ...packet, blob: blobs.get(`${packet.pairId}/${packet.packetId}`), storedAt: input.now }),
    );
    fresh.set(packet.accountId, list);
    if (urgent.has(`${packet.pairId}/${packet.packetId}`)) urgentFor.add(packet.accountId);
  }
  for (const [recipient, packets] of fresh) notifyInbox(ctx, recipient, packets, urgentFor.has(recipient));
}
