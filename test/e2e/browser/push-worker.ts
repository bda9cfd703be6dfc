/**
 * A service worker that wires @seeme/client's push-handler the way the web app's
 * worker should: on a push, sync through the SDK, decrypt, show what handlePush
 * returns; on a tap, open the app on the sender. The test builds it with the
 * device state of a paired device (`__SEEME__`), standing in for the app's
 * IndexedDB storage.
 */
import { MemoryStorage, SeeMeClient, handlePush, notificationUrl, type DeviceState } from "@seeme/client";

declare const __SEEME__: { state: DeviceState; gatewayUrl: string };
interface PushEventLike extends Event {
  waitUntil(work: Promise<unknown>): void;
}
interface NotificationEventLike extends PushEventLike {
  notification: { data: unknown; close(): void };
}
interface WorkerScope {
  registration: { showNotification(title: string, options: object): Promise<void> };
  clients: { openWindow(url: string): Promise<unknown> };
  skipWaiting(): Promise<void>;
  addEventListener(type: string, listener: (event: Event) => void): void;
}
const worker = self as unknown as WorkerScope;

const client = new SeeMeClient({
  storage: new MemoryStorage(__SEEME__.state),
  gatewayUrl: __SEEME__.gatewayUrl,
  retry: { baseDelayMs: 50 },
});
let lastSeq = 0;
const openUrl = (connection?: string) =>
  new URL(connection ? `/#/connection/${connection}` : "/", location.origin).href;

worker.addEventListener("install", () => void worker.skipWaiting());
worker.addEventListener("push", (event) => {
  (event as PushEventLike).waitUntil(
    (async () => {
      const handled = await handlePush(client, { after: lastSeq, openUrl });
      lastSeq = handled.lastSeq;
      for (const notification of handled.notifications)
        await worker.registration.showNotification(notification.title, notification.options);
    })(),
  );
});
worker.addEventListener("notificationclick", (event) => {
  const click = event as NotificationEventLike;
  click.notification.close();
  const url = notificationUrl(click.notification.data);
  if (url) click.waitUntil(worker.clients.openWindow(url));
});
