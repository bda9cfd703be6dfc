/*
 * The see-me service worker, built on its own (vite.config.ts bundles it with
 * esbuild after the app). It keeps the app shell (this build's hashed files and
 * the page) in a cache so the app opens without a network, and turns a Web Push
 * wake-up — which says nothing about the packet — into a notification with the
 * real content: it opens the app's own IndexedDB device storage, syncs through
 * the SDK (which decrypts) and shows what the SDK's push handler returns.
 * RPCs to the gateway are never cached.
 */
import { SeeMeClient, handlePush, notificationUrl } from "@seeme/client";
import { AppStore, IndexedDbStorage, NOTIFIED_THROUGH, openDatabase } from "./idb-storage.js";

// Replaced at build time: the files to precache, and a version that changes with them.
declare const __PRECACHE__: string[];
declare const __VERSION__: string;

// The DOM library is what the app's tsconfig loads; these are the few worker types used here.
interface ExtendableEvent extends Event {
  waitUntil(work: Promise<unknown>): void;
}
interface FetchEvent extends ExtendableEvent {
  request: Request;
  respondWith(response: Promise<Response>): void;
}
interface NotificationEvent extends ExtendableEvent {
  notification: Notification;
}
interface WindowClient {
  url: string;
  focus(): Promise<unknown>;
  navigate(url: string): Promise<unknown>;
}
interface WorkerScope {
  location: Location;
  registration: ServiceWorkerRegistration;
  clients: {
    claim(): Promise<void>;
    matchAll(options: { type: "window"; includeUncontrolled: boolean }): Promise<WindowClient[]>;
    openWindow(url: string): Promise<unknown>;
  };
  skipWaiting(): Promise<void>;
  addEventListener(type: "install" | "activate" | "push", listener: (event: ExtendableEvent) => void): void;
  addEventListener(type: "fetch", listener: (event: FetchEvent) => void): void;
  addEventListener(type: "notificationclick", listener: (event: NotificationEvent) => void): void;
}

const worker = self as unknown as WorkerScope;
const PRECACHE = __PRECACHE__;
const CACHE = `seeme-shell-${__VERSION__}`;

worker.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(PRECACHE))
      .then(() => worker.skipWaiting()),
  );
});

worker.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) =>
        Promise.all(
          keys.filter((key) => key.startsWith("seeme-shell-") && key !== CACHE).map((key) => caches.delete(key)),
        ),
      )
      .then(() => worker.clients.claim()),
  );
});

worker.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== worker.location.origin) return;
  if (request.mode === "navigate") {
    // The page: network first (a new build shows at once), the cached shell when offline.
    event.respondWith(
      fetch(request).catch(() => caches.match("/", { cacheName: CACHE }).then((hit) => hit ?? Response.error())),
    );
    return;
  }
  if (PRECACHE.includes(url.pathname)) {
    event.respondWith(caches.match(request, { cacheName: CACHE }).then((hit) => hit ?? fetch(request)));
  }
});

/** The device as the app keeps it; opened on the first wake-up, then kept while the worker lives. */
let device: Promise<{ client: SeeMeClient; app: AppStore }> | undefined;

function openDevice(): Promise<{ client: SeeMeClient; app: AppStore }> {
  device ??= openDatabase().then((db) => ({
    client: new SeeMeClient({
      storage: new IndexedDbStorage(db),
      gatewayUrl: worker.location.origin,
      protocol: "connect",
    }),
    app: new AppStore(db),
  }));
  return device;
}

const openUrl = (connection?: string) =>
  new URL(connection ? `/#/connection/${connection}` : "/", worker.location.origin).href;

async function onPush(): Promise<void> {
  const { client, app } = await openDevice();
  if (!(await client.accountId())) return;
  // Only what the app has not already shown: it records how far the person has seen (NOTIFIED_THROUGH).
  const after = (await app.get<number>(NOTIFIED_THROUGH)) ?? 0;
  const subscription = await worker.registration.pushManager.getSubscription();
  const { notifications, lastSeq } = await handlePush(client, { after, openUrl, subscription: subscription?.toJSON() });
  await app.set(NOTIFIED_THROUGH, Math.max(lastSeq, (await app.get<number>(NOTIFIED_THROUGH)) ?? 0));
  for (const notification of notifications) {
    await worker.registration.showNotification(notification.title, {
      ...notification.options,
      icon: "/icons/icon-192.png",
    });
  }
}

worker.addEventListener("push", (event) => {
  event.waitUntil(
    onPush().catch(() =>
      // Browsers require every push to show something; when the sync failed, say where to look.
      worker.registration.showNotification("see-me", {
        body: "You may have new messages: open see-me.",
        tag: "seeme-updates",
        silent: true,
      }),
    ),
  );
});

worker.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = notificationUrl(event.notification.data) ?? openUrl();
  event.waitUntil(
    worker.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      const open = windows[0];
      // An open app is brought forward on the sender; otherwise a new window opens there.
      return open
        ? open.navigate(url).then(
            () => open.focus(),
            () => open.focus(),
          )
        : worker.clients.openWindow(url);
    }),
  );
});
