import { events } from "@seeme/contracts/subjects";
import type { EventBus } from "@seeme/runtime/nats";
import type { SessionVerifier } from "./sessions.js";

/**
 * Ends cached sessions the moment identity deletes an account or rotates its
 * key. Every gateway replica must hear every event, so this is a plain NATS
 * subscription to the events' subjects (JetStream publishes reach core
 * subscribers too), not a shared durable consumer.
 */
export function watchRevocations(bus: EventBus, sessions: SessionVerifier): { unsubscribe(): void } {
  const subscriptions = [
    bus.subscribeCore(events.accountDeleted.subject, events.accountDeleted.schema, (event) =>
      sessions.forget(event.accountId),
    ),
    bus.subscribeCore(events.accountKeyRotated.subject, events.accountKeyRotated.schema, (event) =>
      sessions.forget(event.accountId),
    ),
  ];
  return { unsubscribe: () => subscriptions.forEach((subscription) => subscription.unsubscribe()) };
}
