/*
 * The exact byte strings a key signs outside the envelope (challenge, initiate,
 * invite, confirm): defined once in the contracts package, so the services that verify
 * them and the devices that sign them share one definition.
 */
export {
  CHALLENGE_PURPOSE_LABELS,
  challengePayload,
  confirmPayload,
  INITIATE_PREFIX,
  initiatePayload,
  INVITE_PREFIX,
  invitePayload,
  type ChallengeKind,
} from "@seeme/contracts/protocol";
