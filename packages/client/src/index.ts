export * from "./codes.js";
export * from "./codec-location.js";
export * from "./codec-status.js";
export * from "./codec-text.js";
export * from "./codec-pin.js";
export * from "./keys.js";
export * from "./pair-id.js";
export * from "./packet-id.js";
export * from "./envelope.js";
export * from "./replay-guard.js";
export * from "./qr.js";
export * from "./qr-render.js";
export { ClientError, type ClientErrorReason } from "./errors.js";
export { cryptoRandom, type RandomSource } from "./random.js";
export * from "./signed-payloads.js";
export * from "./storage.js";
export * from "./inner-packet.js";
export * from "./api.js";
export * from "./backoff.js";
export type { ClientEvents } from "./client-events.js";
export {
  DEFAULT_ROTATION_GRACE_MS,
  FUTURE_TOLERANCE_MS,
  SERVER_PAIR_ID,
  applyIncoming,
  openIncoming,
  receiveInto,
  type OpenAttempt,
  type ReceiveOptions,
  type ReceiveOutcome,
  type RejectReason,
} from "./receive.js";
export { decodeRekey, encodeRekey, type RekeyMessage } from "./key-rotation.js";
export { LocationPolicy, type LocationPolicyOptions } from "./location-policy.js";
export { DEFAULT_RETENTION, pruneState, type RetentionPolicy } from "./retention.js";
export { SyncEngine, type LiveHandle, type ServerLimits, type SyncReport } from "./sync-engine.js";
export type { BreakResult, ShownCode, ScanResult } from "./handshake.js";
export { commitPackets, queuePayloads, sealPayloads, type FixMeta, type SendReport } from "./outgoing.js";
export { MAX_CHECK_IN_MS, type CheckIn, type CheckInOptions } from "./check-in.js";
export * from "./see-me-client.js";
export { isUrgent, isUrgentPayload } from "./urgency.js";
export * from "./push-handler.js";
