import webpush from "web-push";
import type { PushConfig } from "./config.js";
import type { PushTarget } from "./store.js";

/**
 * The whole payload of every wake-up, urgent or not: a fixed marker, so the push
 * service (and anyone reading its traffic) learns nothing about the packets —
 * no pairIDs, ids, sizes or counts. The device syncs to find out what came.
 */
export const WAKE_UP_PAYLOAD = JSON.stringify({ seeme: "new-packets" });
// One topic: a push service replaces an undelivered wake-up with the next (RFC 8030 §5.4).
const TOPIC = "seeme-new-packets";
// Well inside the shutdown budget (SHUTDOWN_TIMEOUT_MS), which waits for sends in flight.
const SEND_TIMEOUT_MS = 5_000;

export type Urgency = "high" | "normal";
/** "gone": the push service says the subscription no longer exists (404/410), so it is removed. */
export type SendOutcome =
  | { kind: "sent" }
  | { kind: "gone"; status: number }
  | { kind: "failed"; status?: number; reason: string };

/**
 * Sends one wake-up: web-push encrypts it (RFC 8291, aes128gcm) and signs the
 * VAPID JWT (RFC 8292); the request goes out with fetch, which never follows a
 * redirect (the endpoint was checked against the allowed origins, where it leads was not).
 * Returned outcomes never carry the endpoint: it is a secret.
 */
export async function sendWakeUp(config: PushConfig, target: PushTarget, urgency: Urgency): Promise<SendOutcome> {
  let details: ReturnType<typeof webpush.generateRequestDetails>;
  try {
    details = webpush.generateRequestDetails(
      { endpoint: target.endpoint, keys: { p256dh: target.p256dh, auth: target.auth } },
      WAKE_UP_PAYLOAD,
      {
        vapidDetails: {
          subject: config.vapidSubject,
          publicKey: config.vapidPublicKey,
          privateKey: config.vapidPrivateKey,
        },
        TTL: config.ttlSeconds,
        urgency,
        topic: TOPIC,
        contentEncoding: "aes128gcm",
      },
    );
  } catch {
    // Keys no browser could have made (registration checks them): never deliverable.
    return { kind: "gone", status: 0 };
  }
  try {
    const response = await fetch(details.endpoint, {
      method: details.method,
      headers: details.headers as Record<string, string>,
      body: details.body === null ? null : new Uint8Array(details.body),
      redirect: "manual",
      signal: AbortSignal.timeout(SEND_TIMEOUT_MS),
    });
    await response.arrayBuffer().catch(() => undefined);
    if (response.status === 404 || response.status === 410) return { kind: "gone", status: response.status };
    if (response.status >= 200 && response.status < 300) return { kind: "sent" };
    return { kind: "failed", status: response.status, reason: "push service refused the wake-up" };
  } catch (error) {
    return {
      kind: "failed",
      reason:
        error instanceof Error && error.name === "TimeoutError" ? "push service timed out" : "push service unreachable",
    };
  }
}
