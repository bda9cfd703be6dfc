import { Movement, SimpleStatus } from "@seeme/client";

/** What people read for the SPEC §6 codes. */
export const STATUS_NAMES: Record<number, string> = {
  [SimpleStatus.LocationSharingOff]: "turned location sharing off",
  [SimpleStatus.LocationSharingOn]: "turned location sharing on",
  [SimpleStatus.NotificationsOff]: "turned notifications off",
  [SimpleStatus.NotificationsOn]: "turned notifications on",
  [SimpleStatus.ImLost]: "I'm lost",
  [SimpleStatus.IFeelUnsafe]: "I feel unsafe",
  [SimpleStatus.INeedUrgentHelp]: "I need urgent help",
  [SimpleStatus.Sos]: "SOS",
  [SimpleStatus.ImOk]: "I'm OK",
  [SimpleStatus.PleaseCallMe]: "Please call me",
  [SimpleStatus.PleaseMessageMe]: "Please message me",
  [SimpleStatus.WhatsYourEta]: "What's your ETA?",
  [SimpleStatus.OnMyWayHome]: "On my way home",
  [SimpleStatus.IllBeHomeLate]: "I'll be home late",
};

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
