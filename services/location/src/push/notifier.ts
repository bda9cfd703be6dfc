import { InboxUpdatedSchema } from "@seeme/contracts/location";
import { inboxUpdated, liveStream } from "@seeme/contracts/subjects";
import type { LocationContext } from "../context.js";
import type { PushConfig } from "./config.js";
import { sendWakeUp, type Urgency } from "./sender.js";
import {
  claimDue,
  claimNormal,
  claimUrgent,
  hasSubscription,
  removeExpiredSubscriptions,
  removeSubscriptionById,
  type PushTarget,
} from "./store.js";

// Every replica's notifier shares the hints: each is handled once.
const QUEUE_GROUP = "location-push";
// A live stream answers in well under this; a slower answer counts as "no stream" (a spare wake-up is harmless).
const PROBE_TIMEOUT_MS = 500;

export interface PushNotifier {
  /** Sends the wake-ups whose coalescing window has ended and drops expired subscriptions. */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Wakes closed apps when packets wait (issue 18). Fed by the inbox-updated hints
 * Sync publishes after commit, it skips accounts with a Subscribe stream open on
 * any replica (a NATS request that each open stream answers), and sends each of
 * the account's browser subscriptions a content-free Web Push: at once with
 * Urgency high for an urgent packet, otherwise at most one per window per
 * subscription (the rest are marked pending and sent by `flush` when the window
 * ends). The database rows carry the window, so replicas agree.
 *
 * Best effort, like the hints: a wake-up lost to a NATS or push-service outage
 * costs only latency — the device still gets its packets on its next sync.
 * Nothing logged names an endpoint (a secret) or says anything about packets.
 */
export function startPushNotifier(ctx: LocationContext, config: PushConfig): PushNotifier {
  const log = ctx.log.child({ component: "push" });
  const inFlight = new Set<Promise<unknown>>();
  const track = <T>(work: Promise<T>): Promise<T> => {
    inFlight.add(work);
    // Both outcomes handled here: `work.finally(...)` made a second promise that rejected with
    // `work` and nobody awaited, so a database cut during a flush crashed the process.
    work.then(
      () => inFlight.delete(work),
      () => inFlight.delete(work),
    );
    return work;
  };

  async function hasLiveStream(accountId: string): Promise<boolean> {
    try {
      return (await ctx.bus.probe(liveStream.forAccount(accountId), PROBE_TIMEOUT_MS)) === "answered";
    } catch {
      return false;
    }
  }

  async function send(targets: PushTarget[], urgency: Urgency): Promise<void> {
    await Promise.all(
      targets.map(async (target) => {
        const outcome = await sendWakeUp(config, target, urgency);
        if (outcome.kind === "gone") {
          await removeSubscriptionById(ctx.db, target.id);
          log.info({ subscription: target.id, status: outcome.status }, "push subscription gone; removed");
        } else if (outcome.kind === "failed") {
          log.warn(
            { subscription: target.id, status: outcome.status, reason: outcome.reason },
            "wake-up not delivered",
          );
        }
      }),
    );
  }

  async function onHint(accountId: string, urgent: boolean): Promise<void> {
    // Broadcast server messages reach everyone on their next sync; waking every device at once is not worth it.
    if (accountId === "") return;
    const now = ctx.now();
    // Most accounts (CLI, SDK, apps that never registered) have no subscription: skip the probe for them,
    // and do not ask the database again for a few seconds (absent.ts).
    if (ctx.pushAbsent.has(accountId, now)) return;
    if (!(await hasSubscription(ctx.db, accountId, now))) {
      ctx.pushAbsent.add(accountId, now);
      return;
    }
    if (await hasLiveStream(accountId)) return;
    if (urgent) await send(await claimUrgent(ctx.db, accountId, now), "high");
    else await send(await claimNormal(ctx.db, accountId, now, config.coalesceMs), "normal");
  }

  const subscription = ctx.bus.subscribeCore(
    inboxUpdated.forAccount("*"),
    InboxUpdatedSchema,
    (hint) =>
      track(onHint(hint.accountId, hint.urgent)).catch((err: unknown) => log.warn({ err }, "push wake-up failed")),
    { queue: QUEUE_GROUP },
  );

  let flushing: Promise<void> | undefined;
  const flush = () =>
    (flushing ??= track(
      (async () => {
        try {
          const now = ctx.now();
          await removeExpiredSubscriptions(ctx.db, now);
          const due = await claimDue(ctx.db, now, config.coalesceMs);
          const live = new Map<string, boolean>();
          for (const accountId of new Set(due.map((target) => target.accountId)))
            live.set(accountId, await hasLiveStream(accountId));
          await send(
            due.filter((target) => !live.get(target.accountId)),
            "normal",
          );
        } finally {
          flushing = undefined;
        }
      })(),
    ));
  const timer = setInterval(
    () => void flush().catch((err: unknown) => log.warn({ err }, "push flush failed")),
    config.flushIntervalMs,
  );
  timer.unref();

  return {
    flush,
    async stop() {
      clearInterval(timer);
      subscription.unsubscribe();
      await Promise.allSettled([...inFlight]);
    },
  };
}
