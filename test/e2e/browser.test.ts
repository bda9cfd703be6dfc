import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { Movement, type InboxMessage, type SeeMeClient } from "@seeme/client";
import { startStack, type Stack } from "../stack.js";
import { newDevice, syncUntil } from "./helpers.js";

/**
 * The SDK in a real browser: Debian's Chromium, headless, loads a page that
 * bundles @seeme/client for the browser (esbuild, platform "browser": any
 * Node-only import would fail the build). The page pairs with a Node device and
 * they exchange locations through the gateway — the page over gRPC-web, the
 * Node device over Connect — cross-origin, so CORS is exercised too.
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
let node: SeeMeClient;
const pageErrors: string[] = [];

async function servePage(): Promise<string> {
  const bundle = await build({
    entryPoints: [fileURLToPath(new URL("./browser/page.ts", import.meta.url))],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
    logLevel: "silent",
  });
  const script = bundle.outputFiles[0].text;
  const html =
    '<!doctype html><meta charset="utf-8"><title>see-me</title><script type="module" src="/page.js"></script>';
  server = http.createServer((req, res) => {
    if (req.url === "/page.js") res.writeHead(200, { "content-type": "text/javascript" }).end(script);
    else if (req.url === "/") res.writeHead(200, { "content-type": "text/html" }).end(html);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`Chromium is not installed at ${CHROMIUM}: run "apt-get install -y chromium" (.ci/run does)`);
  stack = await startStack("e2e_browser");
  const url = await servePage();
  profile = await mkdtemp(join(tmpdir(), "see-me-chromium-"));
  context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS });
  page = await context.newPage();
  page.on("pageerror", (error) => pageErrors.push(error.message));
  await page.goto(url);
  await page.waitForFunction(() => document.title === "see-me ready");
  node = await newDevice(stack);
}, 30_000);

afterAll(async () => {
  await context?.close();
  await new Promise((resolve) => server?.close(resolve));
  if (profile) await rm(profile, { recursive: true, force: true });
  await stack?.stop();
});

test("a browser device pairs with a Node device and they exchange locations through the gateway", async () => {
  expect(await page.evaluate(() => window.seeme.userAgent())).toMatch(/HeadlessChrome|Chrome/);
  const accountId = await page.evaluate((gateway) => window.seeme.start(gateway, "grpc-web"), stack.gatewayUrl);
  expect(accountId).not.toBe("");

  // The QR handshake, with the codes passed as text between the two devices.
  const offer = await node.createOffer("browser");
  const answer = await page.evaluate((code) => window.seeme.answer(code), offer.qr);
  const invite = await node.initiate(answer.qr, offer.connection);
  expect(await page.evaluate((code) => window.seeme.confirm(code), invite.qr)).toBe("active");
  await syncUntil(node, async () => (await node.connection(offer.connection)).status === "active");

  await node.sendLocation({ movement: Movement.CyclingOrSkating, latitude: 52.52, longitude: 13.405, speedKmh: 18 });
  const received = await page.evaluate(() => window.seeme.nextLocation());
  expect(received).toMatchObject({
    kind: "location",
    connection: answer.connection,
    latitude: 52.52,
    longitude: 13.405,
    speedKmh: 18,
    movement: Movement.CyclingOrSkating,
  });

  const sent = await page.evaluate(() => window.seeme.sendLocation(-41.2865, 174.7762));
  expect(sent).toHaveLength(1);
  const inbox = await syncUntil(node, (messages) => messages.some((m) => m.kind === "location"));
  const location = inbox.find((m): m is Extract<InboxMessage, { kind: "location" }> => m.kind === "location");
  expect(location).toMatchObject({
    connection: offer.connection,
    latitude: -41.2865,
    longitude: 174.7762,
    speedKmh: 3.5,
  });
  expect(pageErrors).toEqual([]);
});
