import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { SimpleStatus, type SeeMeClient } from "@seeme/client";
import { startStack, type Stack } from "../stack.js";
import { newDevice, pair, syncUntil } from "./helpers.js";

/**
 * Issue 18's browser "must show", on a stand-in worker until the web app's own
 * is wired (packages/web): a real service worker in headless Chromium gets a
 * push through the DevTools protocol (ServiceWorker.deliverPushMessage; the real
 * push services are out of reach here), syncs through the SDK, decrypts and
 * shows the SOS as a system notification that requires interaction.
 */
const CHROMIUM = "/usr/bin/chromium";
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

let stack: Stack;
let server: http.Server;
let profile: string;
let context: BrowserContext;
let page: Page;
let origin: string;
let alice: SeeMeClient;
let bobConnection: string;

async function serve(workerScript: string): Promise<string> {
  const html = '<!doctype html><meta charset="utf-8"><title>see-me</title>';
  server = http.createServer((req, res) => {
    if (req.url === "/sw.js") res.writeHead(200, { "content-type": "text/javascript" }).end(workerScript);
    else res.writeHead(200, { "content-type": "text/html" }).end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`Chromium is not installed at ${CHROMIUM}: run "apt-get install -y chromium" (.ci/run does)`);
  stack = await startStack("e2e_push_worker");
  alice = await newDevice(stack);
  // Bob pairs in Node; the worker then runs as Bob, from his stored state.
  const bob = await newDevice(stack);
  const ids = await pair(alice, bob, { a: "Bob", b: "Alice" });
  bobConnection = ids.b;
  await syncUntil(alice, async () => (await alice.connection(ids.a)).status === "active");
  const bundle = await build({
    entryPoints: [fileURLToPath(new URL("./browser/push-worker.ts", import.meta.url))],
    bundle: true,
    format: "iife",
    platform: "browser",
    target: "es2022",
    write: false,
    logLevel: "silent",
    banner: {
      js: `const __SEEME__ = ${JSON.stringify({ state: await bob.storage.read(), gatewayUrl: stack.gatewayUrl })};`,
    },
  });
  origin = await serve(bundle.outputFiles[0].text);
  profile = await mkdtemp(join(tmpdir(), "see-me-chromium-"));
  context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS });
  await context.grantPermissions(["notifications"], { origin });
  page = await context.newPage();
  await page.goto(`${origin}/`);
}, 60_000);

afterAll(async () => {
  await context?.close();
  await new Promise((resolve) => server?.close(resolve));
  if (profile) await rm(profile, { recursive: true, force: true });
  await stack?.stop();
});

test("a push delivered to the service worker makes it sync, decrypt and show Alice's SOS", async () => {
  const cdp = await context.newCDPSession(page);
  const registered = new Promise<string>((resolve) => {
    cdp.on(
      "ServiceWorker.workerRegistrationUpdated",
      ({
        registrations,
      }: {
        registrations: Array<{ registrationId: string; scopeURL: string; isDeleted: boolean }>;
      }) => {
        const found = registrations.find((r) => r.scopeURL.startsWith(origin) && !r.isDeleted);
        if (found) resolve(found.registrationId);
      },
    );
  });
  await cdp.send("ServiceWorker.enable");
  await page.evaluate(async () => {
    await navigator.serviceWorker.register("/sw.js");
    await navigator.serviceWorker.ready;
  });
  const registrationId = await registered;

  await alice.sendStatus(SimpleStatus.Sos);
  await cdp.send("ServiceWorker.deliverPushMessage", {
    origin,
    registrationId,
    data: JSON.stringify({ seeme: "new-packets" }),
  });

  const shownNotifications = () =>
    page.evaluate(async () => {
      const registration = await navigator.serviceWorker.ready;
      return (await registration.getNotifications()).map((n) => ({
        title: n.title,
        body: n.body,
        requireInteraction: n.requireInteraction,
        tag: n.tag,
        data: n.data as unknown,
      }));
    });
  let shown: Awaited<ReturnType<typeof shownNotifications>> = [];
  for (let i = 0; i < 75 && shown.length === 0; i++) {
    shown = await shownNotifications();
    if (shown.length === 0) await new Promise((resolve) => setTimeout(resolve, 200));
  }
  expect(shown).toEqual([
    {
      title: "SOS — Alice",
      body: "Alice: SOS. Tap to see where they are.",
      requireInteraction: true,
      tag: expect.stringContaining(bobConnection),
      data: { url: `${origin}/#/connection/${bobConnection}`, connection: bobConnection },
    },
  ]);
});
