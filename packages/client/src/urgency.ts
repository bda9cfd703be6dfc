import { PrimaryType, SimpleStatus } from "./codes.js";

// The statuses that mean "someone may be in danger now": their wake-up must not wait.
const URGENT_STATUSES: ReadonlySet<number> = new Set([
  SimpleStatus.Sos,
  SimpleStatus.ImLost,
  SimpleStatus.IFeelUnsafe,
  SimpleStatus.INeedUrgentHelp,
]);

/**
 * Whether a packet of SPEC §6 `type`/`subType` is sent marked urgent, so a
 * recipient whose app is closed is woken at once (Web Push, Urgency: high)
 * instead of within a minute. The relay learns this one bit and nothing else.
 */
export function isUrgent(type: number, subType: number): boolean {
  return type === PrimaryType.SimpleStatus && URGENT_STATUSES.has(subType);
}

/** isUrgent for an inner payload in its fixed-width text form (a status has a 2-digit sub-type). */
export function isUrgentPayload(payload: string): boolean {
  return isUrgent(
    Number(payload[0]),
    Number(payload.slice(1, Number(payload[0]) === PrimaryType.SimpleStatus ? 3 : 2)),
  );
}
