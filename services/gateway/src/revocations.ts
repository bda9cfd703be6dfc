import { fromBinary } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { events } from "@seeme/contracts/subjects";
import type { Logger } from "@seeme/runtime/logger";
import type { EventBus } from "@seeme/runtime/nats";
import { SESSION_TOKEN_MAX_TTL_MS } from "@seeme/runtime/session-token";
import type { SessionVerifier } from "./sessions.js";

// Identity's clock may run ahead of ours: replay a little further back.
const REPLAY_SLACK_MS = 60_000;

/**
 * Feeds identity's deletions and key rotations into the revocation set. Every
 * gateway replica must see every event, so each reads the IDENTITY stream
 * itself (an ordered consumer, not a shared durable one):
 * - at start it replays the last SESSION_TOKEN_MAX_TTL_MS (every revocation a
 *   still-valid token could be subject to) before the gateway serves;
 * - then it follows live: a revocation reaches every replica within
 *   milliseconds of identity publishing it;
 * - after a NATS outage the consumer resumes after the last event it saw, so
 *   revocations published meanwhile are applied as soon as NATS is back.
 * While NATS is unreachable, identity cannot publish either (its outbox holds
 * the events), so a revocation takes effect at the gateways when NATS returns;
 * the token lifetime (SESSION_TOKEN_TTL) bounds that window. Deletion itself is
 * enforced at the relay at once regardless (identity calls location directly).
 */
export async function followRevocations(
  bus: EventBus,
  sessions: SessionVerifier,
  log: Logger,
  now: () => number = Date.now,
): Promise<{ caughtUp: Promise<void>; stop(): Promise<void> }> {
  await bus.ensureStreams(["IDENTITY"]);
  return bus.follow("IDENTITY", {
    since: new Date(now() - SESSION_TOKEN_MAX_TTL_MS - REPLAY_SLACK_MS),
    handler(subject, data) {
      if (subject === events.accountDeleted.subject) {
        const event = fromBinary(events.accountDeleted.schema, data);
        sessions.accountDeleted(event.accountId, event.deleteTime ? timestampMs(event.deleteTime) : now());
      } else if (subject === events.accountKeyRotated.subject) {
        const event = fromBinary(events.accountKeyRotated.schema, data);
        if (event.rotateTime) sessions.keyRotated(event.accountId, timestampMs(event.rotateTime));
        else log.warn("key rotation event without a rotation time ignored");
      }
    },
  });
}
