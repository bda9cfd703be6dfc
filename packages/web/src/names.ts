import { Movement, STATUS_TEXT } from "@seeme/client";

/** What people read for the SPEC §6 codes: the SDK's words, so a notification and the app say the same. */
export const STATUS_NAMES: Record<number, string> = STATUS_TEXT;

export const MOVEMENT: Record<number, { icon: string; name: string }> = {
  [Movement.Stationary]: { icon: "🧍", name: "still" },
  [Movement.MovingModeUnknown]: { icon: "➡️", name: "moving" },
  [Movement.Walking]: { icon: "🚶", name: "walking" },
  [Movement.CyclingOrSkating]: { icon: "🚲", name: "cycling" },
  [Movement.DrivingBusOrLightRail]: { icon: "🚗", name: "driving" },
  [Movement.OnATrain]: { icon: "🚆", name: "on a train" },
};

export const SERVER_MESSAGE_NAMES: Record<number, string> = {
  1: "Planned maintenance",
  2: "Planned outage",
  3: "Heavy load",
  4: "Payment due",
  5: "Automatic payment failed",
  6: "Payment received",
  7: "Payment plan request",
  8: "Payment plan token",
};
