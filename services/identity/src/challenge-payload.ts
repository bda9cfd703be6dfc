/**
 * The challenge payload format lives in the device SDK, so the server that
 * verifies and the clients that sign share one definition (the testkit
 * imports this module too).
 */
export { CHALLENGE_PURPOSE_LABELS, challengePayload, type ChallengeKind } from "@seeme/client/signed-payloads";
