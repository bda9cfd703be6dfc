import { ChallengePurpose } from "./identity.js";

/*
 * The see-me protocol as both ends speak it: the device SDK (packages/client)
 * and the services import these, so a limit or a code has one definition.
 * No Node-only APIs: browsers run this module.
 */

// ---------------------------------------------------------------------------
// Addresses and limits (SPEC §2, §5)
// ---------------------------------------------------------------------------

export const PAIR_ID_LENGTH = 40;

/** SPEC §2: a pairID is exactly 40 characters of [A-Za-z0-9]. */
export const PAIR_ID_PATTERN = /^[A-Za-z0-9]{40}$/;

export function isPairId(value: unknown): value is string {
  return typeof value === "string" && PAIR_ID_PATTERN.test(value);
}

/** The pairID server messages (SPEC §6 type 5 and 6) are queued and acknowledged under. */
export const SERVER_PAIR_ID = "SERVER";

/** A client acknowledges what it was sent, at most a few pages per Sync. */
export const MAX_ACKS_PER_SYNC = 5000;

/**
 * Entries of last_packets_received in one Sync: one per own pairID (and "SERVER")
 * is all a client needs; the cap keeps a request of many tiny entries from costing
 * more to check than to refuse.
 */
export const MAX_ACK_ENTRIES = 1000;

// ---------------------------------------------------------------------------
// Type and sub-type codes of SPEC §6. Payload codecs and server messages use these numbers.
// ---------------------------------------------------------------------------

export const PrimaryType = {
  LocationUpdate: 1,
  LocationSharingState: 2,
  SimpleStatus: 3,
  TextMessage: 4,
  ConnectionManagement: 5,
  ServerMessage: 6,
} as const;
export type PrimaryType = (typeof PrimaryType)[keyof typeof PrimaryType];

/** Simple status sub-types; 0–7 are "danger", 8–13 "general". Seen whatever the recipient's location setting. */
export const SimpleStatus = {
  LocationSharingOff: 0,
  LocationSharingOn: 1,
  NotificationsOff: 2,
  NotificationsOn: 3,
  ImLost: 4,
  IFeelUnsafe: 5,
  INeedUrgentHelp: 6,
  Sos: 7,
  ImOk: 8,
  PleaseCallMe: 9,
  PleaseMessageMe: 10,
  WhatsYourEta: 11,
  OnMyWayHome: 12,
  IllBeHomeLate: 13,
} as const;
export type SimpleStatus = (typeof SimpleStatus)[keyof typeof SimpleStatus];

export const DANGER_STATUSES: readonly SimpleStatus[] = [0, 1, 2, 3, 4, 5, 6, 7];
export const GENERAL_STATUSES: readonly SimpleStatus[] = [8, 9, 10, 11, 12, 13];

export function isDangerStatus(status: SimpleStatus): boolean {
  return DANGER_STATUSES.includes(status);
}

export const Movement = {
  Stationary: 1,
  MovingModeUnknown: 2,
  Walking: 3,
  CyclingOrSkating: 4,
  DrivingBusOrLightRail: 5,
  OnATrain: 6,
} as const;
export type Movement = (typeof Movement)[keyof typeof Movement];

export const TextMessageKind = {
  New: 1,
  Reply: 2,
  Update: 3,
  Delete: 4,
  LocationPin: 5,
} as const;
export type TextMessageKind = (typeof TextMessageKind)[keyof typeof TextMessageKind];

export const ConnectionManagement = {
  Initiate: 1,
  Confirm: 2,
  Confirmed: 3,
  Expired: 4,
  Break: 5,
} as const;
export type ConnectionManagement = (typeof ConnectionManagement)[keyof typeof ConnectionManagement];

export const ServerMessage = {
  PlannedMaintenance: 1,
  PlannedOutage: 2,
  HeavyLoad: 3,
  PaymentDue: 4,
  AutomaticPaymentFailed: 5,
  PaymentReceived: 6,
  RequestPaymentPlanToken: 7,
  PaymentPlanToken: 8,
} as const;
export type ServerMessage = (typeof ServerMessage)[keyof typeof ServerMessage];

/** Whether `value` is one of the codes in `table` (used by the decoders to reject unknown sub-types). */
export function isCodeOf<T extends Record<string, number>>(table: T, value: number): value is T[keyof T] {
  return Object.values(table).includes(value);
}

// ---------------------------------------------------------------------------
// Signed payloads: the exact byte strings a key signs outside the envelope
// ---------------------------------------------------------------------------

/*
 *   identity challenge:        "see-me/identity/v1/<purpose>\n" || nonce || subject
 *   initiate (A's account key): "see-me/connection/v1/initiate\n" || sender || "\n" || recipient
 *   invite (server signing key): "see-me/connection/v1/invite\n"   || sender || "\n" || recipient
 *
 * Every prefix names one use, so a signature made for one step cannot be replayed as
 * another; pairIDs never contain "\n", so the pair encoding is unambiguous.
 */

/** The subject of a challenge is the public key (register, rotate-key) or the UTF-8 account id (sign-in). */
export const CHALLENGE_PURPOSE_LABELS = {
  [ChallengePurpose.REGISTER]: "register",
  [ChallengePurpose.SIGN_IN]: "sign-in",
  [ChallengePurpose.ROTATE_KEY]: "rotate-key",
} as const;

export type ChallengeKind = keyof typeof CHALLENGE_PURPOSE_LABELS;

export const CHALLENGE_PREFIX = "see-me/identity/v1/";
export const INITIATE_PREFIX = "see-me/connection/v1/initiate\n";
export const INVITE_PREFIX = "see-me/connection/v1/invite\n";
export const CONFIRM_PREFIX = "see-me/connection/v1/confirm\n";

export function challengePayload(purpose: ChallengeKind, nonce: Uint8Array, subject: Uint8Array | string): Uint8Array {
  const encoder = new TextEncoder();
  const prefix = encoder.encode(`${CHALLENGE_PREFIX}${CHALLENGE_PURPOSE_LABELS[purpose]}\n`);
  const tail = typeof subject === "string" ? encoder.encode(subject) : subject;
  const payload = new Uint8Array(prefix.length + nonce.length + tail.length);
  payload.set(prefix, 0);
  payload.set(nonce, prefix.length);
  payload.set(tail, prefix.length + nonce.length);
  return payload;
}

/** A RangeError, as the connection service has always thrown: callers validate pairIDs before signing. */
function pairPayload(prefix: string, senderPairId: string, recipientPairId: string): Uint8Array {
  for (const id of [senderPairId, recipientPairId]) {
    if (!isPairId(id)) throw new RangeError("a pairID must be exactly 40 characters of [A-Za-z0-9]");
  }
  return new TextEncoder().encode(`${prefix}${senderPairId}\n${recipientPairId}`);
}

/** What the initiator signs with its account key (InitiateConnectionRequest.account_signature). */
export function initiatePayload(senderPairId: string, recipientPairId: string): Uint8Array {
  return pairPayload(INITIATE_PREFIX, senderPairId, recipientPairId);
}

/**
 * What the server signs with its signing key (InitiateConnectionResponse.server_signature): the pair
 * and the recipient's connection signing key, so the invite code alone cannot confirm it: the
 * confirm must be signed with that key (confirmPayload).
 */
export function invitePayload(
  senderPairId: string,
  recipientPairId: string,
  recipientSigningPublicKey: Uint8Array,
): Uint8Array {
  const pair = pairPayload(INVITE_PREFIX, senderPairId, recipientPairId);
  const bound = new Uint8Array(pair.length + 1 + recipientSigningPublicKey.length);
  bound.set(pair);
  bound[pair.length] = 0x0a;
  bound.set(recipientSigningPublicKey, pair.length + 1);
  return bound;
}

/** What the recipient signs with its connection signing key to confirm an invite (ConfirmConnectionRequest.recipient_signature). */
export function confirmPayload(senderPairId: string, recipientPairId: string): Uint8Array {
  return pairPayload(CONFIRM_PREFIX, senderPairId, recipientPairId);
}
