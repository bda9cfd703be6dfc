import { eraseExpiredKeys } from "./key-rotation.js";
import type { DeviceState } from "./storage.js";

/**
 * How long this device keeps what it received and sent (SPEC §8, the design's client schema):
 * received locations 30 days, messages (statuses, texts, server messages, my sent texts) 180 days.
 * A family's movements are the most sensitive thing the device holds, so they go first.
 */
export interface RetentionPolicy {
  locationDays: number;
  messageDays: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = { locationDays: 30, messageDays: 180 };

const DAY_MS = 86_400_000;

/** Erases, inside the caller's storage update, whatever `policy` no longer keeps at `now`; returns how many entries went. */
export function pruneState(state: DeviceState, now: Date, policy: RetentionPolicy = DEFAULT_RETENTION): number {
  const locationsFrom = now.getTime() - policy.locationDays * DAY_MS;
  const messagesFrom = now.getTime() - policy.messageDays * DAY_MS;
  const before = state.inbox.length + (state.sentTexts?.length ?? 0);
  state.inbox = state.inbox.filter(
    (message) => Date.parse(message.receivedAt) >= (message.kind === "location" ? locationsFrom : messagesFrom),
  );
  if (state.sentTexts) state.sentTexts = state.sentTexts.filter((text) => Date.parse(text.sentAt) >= messagesFrom);
  // Old connection keys whose grace window after a rotation has passed are erased too.
  for (const connection of state.connections) eraseExpiredKeys(connection, now);
  return before - state.inbox.length - (state.sentTexts?.length ?? 0);
}
