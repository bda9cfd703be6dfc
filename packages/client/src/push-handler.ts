import { ConnectionManagement, PrimaryType, SimpleStatus, TextMessageKind } from "./codes.js";
import type { SeeMeClient } from "./see-me-client.js";
import type { InboxMessage } from "./storage.js";
import { isUrgent } from "./urgency.js";

/**
 * What a service worker does with a Web Push, without touching a browser API,
 * so it runs (and is tested) in Node. The push itself says nothing (the relay
 * sends a fixed "new packets" marker): the worker syncs through the SDK, which
 * decrypts, and shows what this returns:
 *
 *   self.addEventListener("push", (event) => event.waitUntil((async () => {
 *     const { notifications, lastSeq } = await handlePush(client, { after: await loadSeq(), openUrl,
 *       subscription: (await self.registration.pushManager.getSubscription())?.toJSON() });
 *     await saveSeq(lastSeq);
 *     for (const n of notifications) await self.registration.showNotification(n.title, n.options);
 *   })()));
 *   self.addEventListener("notificationclick", (event) => { event.notification.close();
 *     event.waitUntil(self.clients.openWindow(notificationUrl(event.notification.data))); });
 *
 * Browsers require every push to show something (userVisibleOnly), so when
 * nothing new is worth a notification (only locations, or a repeat wake-up)
 * one quiet summary is returned that replaces itself.
 */
export interface PushNotification {
  title: string;
  /** NotificationOptions as showNotification takes them. */
  options: {
    body: string;
    /** One per message, so two SOS never replace each other; the quiet summary shares one tag. */
    tag: string;
    requireInteraction: boolean;
    renotify: boolean;
    silent: boolean;
    /** Vibration pattern (ms) for danger statuses. */
    vibrate?: number[];
    /** Where a tap leads: the app on the sender's connection. */
    data: { url: string; connection?: string };
  };
}

export interface PushHandlingOptions {
  /** The inbox sequence number notified last (persist `lastSeq` between wake-ups); 0 the first time. */
  after: number;
  /** The app URL that shows one connection (my pairID), or the app's start page when none is given. */
  openUrl: (connection?: string) => string;
  /** This browser's current subscription (`toJSON()`); registered again so it follows the current session. */
  subscription?: { endpoint?: string; keys?: Record<string, string> } | null;
}

export interface PushHandling {
  notifications: PushNotification[];
  /** The newest inbox sequence number seen: pass it as `after` next time. */
  lastSeq: number;
}

type PushClient = Pick<SeeMeClient, "sync" | "inbox" | "connections" | "registerPush">;

// Long, repeated buzzes: an SOS must be felt in a pocket.
export const DANGER_VIBRATION = [500, 200, 500, 200, 500];
// A burst of messages (a long text arrives as one) never floods the notification shade.
const MAX_NOTIFICATIONS = 8;
const QUIET_TAG = "seeme-updates";

/** What people read for each SPEC §6 status (notifications here; the web app shows the same words). */
export const STATUS_TEXT: Record<number, string> = {
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

const CONNECTION_TEXT: Record<number, string> = {
  [ConnectionManagement.Confirmed]: "A new connection is ready",
  [ConnectionManagement.Expired]: "A connection invite expired before it was confirmed",
  [ConnectionManagement.Break]: "A connection was ended",
};

function notification(
  title: string,
  body: string,
  tag: string,
  url: string,
  connection?: string,
  urgent = false,
): PushNotification {
  return {
    title,
    options: {
      body,
      tag,
      requireInteraction: urgent,
      renotify: urgent,
      silent: false,
      ...(urgent ? { vibrate: DANGER_VIBRATION } : {}),
      data: { url, ...(connection ? { connection } : {}) },
    },
  };
}

/** The notification one inbox message deserves, or undefined (locations, deleted texts). */
function toNotification(
  message: InboxMessage,
  labels: Map<string, string>,
  openUrl: PushHandlingOptions["openUrl"],
): PushNotification | undefined {
  if (message.kind === "server") {
    const text = message.type === PrimaryType.ConnectionManagement ? CONNECTION_TEXT[message.subType] : message.text;
    return text ? notification("see-me", text, `seeme-server-${message.packetId}`, openUrl()) : undefined;
  }
  const label = labels.get(message.connection) ?? "Someone";
  const tag = `seeme-${message.connection}-${message.packetId}`;
  const url = openUrl(message.connection);
  switch (message.kind) {
    case "status": {
      const urgent = isUrgent(PrimaryType.SimpleStatus, message.status);
      const text = STATUS_TEXT[message.status] ?? "sent a status";
      return urgent
        ? notification(
            `${text} — ${label}`,
            `${label}: ${text}. Tap to see where they are.`,
            tag,
            url,
            message.connection,
            true,
          )
        : notification(label, text, tag, url, message.connection);
    }
    case "text":
      if (message.textKind === TextMessageKind.Delete) return undefined;
      if (message.textKind === TextMessageKind.LocationPin)
        return notification(label, "shared a place", tag, url, message.connection);
      return notification(
        label,
        message.textKind === TextMessageKind.Update ? `(edited) ${message.message}` : message.message,
        tag,
        url,
        message.connection,
      );
    case "location":
      return undefined;
  }
}

/** Handles one wake-up: sync, decrypt (the SDK does), and say what to show. */
export async function handlePush(client: PushClient, options: PushHandlingOptions): Promise<PushHandling> {
  await client.sync();
  const { endpoint, keys } = options.subscription ?? {};
  if (endpoint && keys?.p256dh && keys.auth) {
    // Best effort: a failure here must not cost the notification.
    await client.registerPush({ endpoint, keys: { p256dh: keys.p256dh, auth: keys.auth } }).catch(() => undefined);
  }
  const messages = await client.inbox(options.after);
  const labels = new Map((await client.connections()).map((connection) => [connection.connection, connection.label]));
  const lastSeq = messages.reduce((max, message) => Math.max(max, message.seq), options.after);
  const shown = messages
    .map((message) => toNotification(message, labels, options.openUrl))
    .filter((n): n is PushNotification => n !== undefined);
  // Danger first, so a cap never hides an SOS.
  shown.sort((a, b) => Number(b.options.requireInteraction) - Number(a.options.requireInteraction));
  const notifications = shown.slice(0, MAX_NOTIFICATIONS);
  if (notifications.length === 0) {
    const quiet = notification("see-me", "Your people shared updates", QUIET_TAG, options.openUrl());
    notifications.push({ ...quiet, options: { ...quiet.options, silent: true } });
  }
  return { notifications, lastSeq };
}

/** The URL a tapped notification opens (from `notification.data`), or undefined for data not made here. */
export function notificationUrl(data: unknown): string | undefined {
  if (typeof data !== "object" || data === null || !("url" in data)) return undefined;
  return typeof data.url === "string" ? data.url : undefined;
}
