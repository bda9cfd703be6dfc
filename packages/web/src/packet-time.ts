import type { InboxMessage } from "@seeme/client";

/*
 * Where the app reads a packet's time and fix accuracy. Today's SDK records
 * only when a packet was received; the SDK change that adds the sender's
 * `sentAt` (envelope v2, SPEC §8) and an optional accuracy lands separately.
 * Everything in the app asks these two functions, so switching to the send
 * time is a change here alone.
 */

/** When the packet was sent, as well as this device knows (ms since the epoch). */
export function locationTime(packet: InboxMessage): number {
  const sentAt = (packet as { sentAt?: string | number }).sentAt;
  if (typeof sentAt === "number") return sentAt * 1000;
  if (typeof sentAt === "string" && packet.kind !== "status") return Date.parse(sentAt);
  return Date.parse(packet.receivedAt);
}

/** The fix's accuracy in metres, when the sender gave one. */
export function locationAccuracy(packet: InboxMessage): number | undefined {
  const accuracy =
    (packet as { accuracy?: number; accuracyM?: number }).accuracy ?? (packet as { accuracyM?: number }).accuracyM;
  return typeof accuracy === "number" && accuracy > 0 ? accuracy : undefined;
}

/** Older than this, a position is shown faded and called stale (SPEC §8: 15 minutes, configurable). */
export const STALE_AFTER_MS = 15 * 60_000;

export function minutesAgo(time: number, now: number): string {
  const minutes = Math.max(0, Math.floor((now - time) / 60_000));
  if (minutes < 1) return "just now";
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.floor(hours / 24)} days ago`;
}
