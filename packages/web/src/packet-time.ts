import type { InboxMessage } from "@seeme/client";

/*
 * Where the app reads a packet's time. The SDK gives every received packet the
 * sender's `sentAt` (envelope v2's signed header) and `receivedAt`; server
 * messages have no send time and use the time they arrived.
 */

/** When the packet was sent (ms since the epoch). */
export function locationTime(packet: InboxMessage): number {
  return Date.parse(packet.sentAt ?? packet.receivedAt);
}

/** Older than this, a position is shown faded and called stale (SPEC §8: 15 minutes, the SDK's default). */
export const STALE_AFTER_MS = 15 * 60_000;

export function minutesAgo(time: number, now: number): string {
  const minutes = Math.max(0, Math.floor((now - time) / 60_000));
  if (minutes < 1) return "just now";
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.floor(hours / 24)} days ago`;
}
