import { createECDH, randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import webpush from "web-push";
import { goTo, openPhone, pairedPhones, type Phone, startWebStack, type WebStack } from "./harness.js";

/**
 * Issue 18 in the real app: Bob allows notifications, the app subscribes to Web
 * Push with the relay's VAPID key and registers the subscription; Bob closes
 * see-me; Alice presses SOS; the relay sends a content-free wake-up to Bob's
 * push service; the app's own service worker, woken by it, opens the app's
 * IndexedDB device, syncs, decrypts and shows the SOS as a notification.
 *
 * Headless Chromium cannot reach a real push service (FCM), so two seams stand
 * in for it, and only those: Bob's page gets a `PushManager` whose subscription
 * points at a push service on loopback (this test's), and the wake-up that
 * service receives is handed to the service worker through the DevTools
 * protocol (`ServiceWorker.deliverPushMessage`), as the browser would.
 */
let web: WebStack;
let alice: Phone;
let bob: Phone;
const wakeUps: Array<{ path: string; authorization: string; urgency: string; bytes: number }> = [];
let pushService: http.Server;
const vapid = webpush.generateVAPIDKeys();

/** A PushManager whose subscription lives at this test's push service (Chromium's own needs FCM). */
function fakePushManager(endpoint: string): string {
  const ecdh = createECDH("prime256v1");
  ecdh.generateKeys();
  const keys = { p256dh: ecdh.getPublicKey().toString("base64url"), auth: randomBytes(16).toString("base64url") };
  return `(() => {
    const json = ${JSON.stringify({ endpoint, keys })};
    let current = null;
    const subscription = { endpoint: json.endpoint, toJSON: () => json, unsubscribe: async () => { current = null; return true; } };
    PushManager.prototype.subscribe = async function (options) {
      const key = new Uint8Array(options.applicationServerKey);
      window.__seemeApplicationServerKey = btoa(String.fromCharCode(...key)).replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
      current = subscription;
      return subscription;
    };
    PushManager.prototype.getSubscription = async function () { return current; };
  })();`;
}

beforeAll(async () => {
  pushService = http.createServer((req, res) => {
    let bytes = 0;
    req.on("data", (chunk: Buffer) => (bytes += chunk.length));
    req.on("end", () => {
      wakeUps.push({
        path: req.url ?? "",
        authorization: String(req.headers.authorization ?? ""),
        urgency: String(req.headers.urgency ?? ""),
        bytes,
      });
      res.writeHead(201).end();
    });
  });
  await new Promise<void>((resolve) => pushService.listen(0, "127.0.0.1", resolve));
  const endpoint = `http://127.0.0.1:${(pushService.address() as AddressInfo).port}/push/bob`;
  web = await startWebStack("e2e_web_push", {
    VAPID_PUBLIC_KEY: vapid.publicKey,
    VAPID_PRIVATE_KEY: vapid.privateKey,
    VAPID_SUBJECT: "mailto:test@example.org",
    PUSH_ALLOWED_ORIGINS: "http://127.0.0.1",
  });
  [alice, bob] = await pairedPhones(
    openPhone(web.url, "alice-push", { latitude: 51.5007, longitude: -0.1246 }),
    openPhone(web.url, "bob-push", undefined, [], { persistent: true, initScript: fakePushManager(endpoint) }),
  );
}, 90_000);

afterAll(async () => {
  await alice?.close();
  await bob?.close();
  await web?.stop();
  await new Promise((resolve) => pushService?.close(resolve));
});

test("Bob allows notifications: the app subscribes with the relay's VAPID key and registers it", async () => {
  await bob.page.getByRole("button", { name: "Done" }).click();
  // Headless Chromium answers "blocked" to every site until told otherwise: the app says how to fix it.
  await bob.page
    .getByText("Notifications are blocked, so an SOS reaches you only while see-me is open", { exact: false })
    .waitFor();
  // Bob allows them in the site settings and presses the button.
  await bob.context.grantPermissions(["notifications"], { origin: web.url.replace(/\/$/, "") });
  await bob.page.getByRole("button", { name: "Allow notifications" }).click();
  await bob.page
    .getByText("Notifications are on: an SOS reaches you even when see-me is closed.")
    .waitFor({ timeout: 10_000 });
  await expect(
    bob.page.evaluate(
      () => (window as unknown as { __seemeApplicationServerKey?: string }).__seemeApplicationServerKey,
    ),
  ).resolves.toBe(vapid.publicKey);
  // The offer to allow them is gone once they are on.
  await expect(bob.page.getByRole("button", { name: "Allow notifications" }).count()).resolves.toBe(0);
  // On the next start the app registers its subscription again by itself (it lasts as long as the session).
  await bob.page.reload();
  await goTo(bob, "People");
  await bob.page.getByText("Alerts reach this phone even when see-me is closed.").waitFor({ timeout: 10_000 });
  await expect(bob.page.getByRole("button", { name: "Allow notifications" }).count()).resolves.toBe(0);
}, 30_000);

test("with see-me closed, Alice's SOS wakes Bob's service worker, which decrypts it and shows it", async () => {
  const cdp = await bob.context.newCDPSession(bob.page);
  const registrationId = new Promise<string>((resolve) => {
    cdp.on(
      "ServiceWorker.workerRegistrationUpdated",
      ({
        registrations,
      }: {
        registrations: Array<{ registrationId: string; scopeURL: string; isDeleted: boolean }>;
      }) => {
        const found = registrations.find((r) => r.scopeURL === web.url && !r.isDeleted);
        if (found) resolve(found.registrationId);
      },
    );
  });
  await cdp.send("ServiceWorker.enable");
  await bob.page.waitForFunction(async () => Boolean((await navigator.serviceWorker.getRegistration())?.active));
  // Bob closes the app: the page leaves for a plain file of the same origin, so the live stream ends
  // but a page remains to read the worker's notifications from.
  await bob.page.goto(`${web.url}config.json`);
  await expect(
    bob.page.evaluate(async () => (await (await navigator.serviceWorker.ready).getNotifications()).length),
  ).resolves.toBe(0);

  await goTo(alice, "Status");
  await alice.page.getByRole("button", { name: "SOS", exact: true }).click();
  await alice.page.getByRole("dialog", { name: "Send SOS?" }).getByRole("button", { name: "Send SOS" }).click();
  await alice.page.getByText("SOS: Sent to Bob.").waitFor({ timeout: 15_000 });

  // The relay wakes Bob's subscription at once (SOS is urgent), signed with its VAPID key, saying nothing.
  for (let i = 0; i < 100 && wakeUps.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 100));
  expect(wakeUps).toHaveLength(1);
  expect(wakeUps[0]).toMatchObject({ path: "/push/bob", urgency: "high" });
  expect(wakeUps[0].authorization).toMatch(new RegExp(`^vapid t=[\\w-]+\\.[\\w-]+\\.[\\w-]+, k=${vapid.publicKey}$`));

  // The push service hands it to the browser, which wakes the app's worker.
  await cdp.send("ServiceWorker.deliverPushMessage", {
    origin: web.url.replace(/\/$/, ""),
    registrationId: await registrationId,
    data: "wake-up",
  });
  const notifications = () =>
    bob.page.evaluate(async () =>
      (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => ({
        title: n.title,
        body: n.body,
        requireInteraction: n.requireInteraction,
        data: n.data as unknown,
      })),
    );
  let shown: Awaited<ReturnType<typeof notifications>> = [];
  for (let i = 0; i < 100 && shown.length === 0; i++) {
    shown = await notifications();
    if (!shown.length) await new Promise((resolve) => setTimeout(resolve, 150));
  }
  expect(shown).toEqual([
    {
      title: "SOS — Alice",
      body: "Alice: SOS. Tap to see where they are.",
      requireInteraction: true,
      data: {
        url: expect.stringMatching(new RegExp(`^${web.url}#/connection/[\\w-]+$`)),
        connection: expect.any(String),
      },
    },
  ]);

  // A tap opens the app on the sender: the thread with Alice, the SOS in it.
  await bob.page.goto((shown[0].data as { url: string }).url);
  await bob.page.getByRole("heading", { name: "Messages" }).waitFor({ timeout: 10_000 });
  await expect(
    bob.page.getByLabel("Conversation with").evaluate((select: HTMLSelectElement) => select.selectedOptions[0]?.text),
  ).resolves.toMatch(/^Alice/);
  await bob.page.getByRole("listitem").filter({ hasText: "Status: SOS" }).first().waitFor();
}, 60_000);
