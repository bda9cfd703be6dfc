/**
 * The byte strings signed during the QR handshake (SPEC §3) live in the device
 * SDK, so the connection service that verifies them and the devices that sign
 * them share one definition. No Node-only APIs: browsers run it too.
 *
 *   account signature (A's account key):   "see-me/connection/v1/initiate\n" || sender || "\n" || recipient
 *   server signature (server signing key):  "see-me/connection/v1/invite\n"   || sender || "\n" || recipient
 */
export { INITIATE_PREFIX, INVITE_PREFIX, initiatePayload, invitePayload } from "@seeme/client/signed-payloads";
export { isPairId } from "@seeme/client/pair-id";
