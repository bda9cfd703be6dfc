/** Type and sub-type codes of SPEC §6. Payload codecs and server messages use these numbers. */

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
