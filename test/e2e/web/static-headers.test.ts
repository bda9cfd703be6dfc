import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { createStaticHandler, DEFAULT_WEB_ROOT } from "@seeme/gateway/static";
import { buildWebApp } from "./harness.js";

/**
 * What the gateway serves for the web app: security headers on every answer,
 * immutable caching for hashed assets only, RPC paths left to Connect, a
 * helpful 404 when the app is not built — and the app shell within its size budget.
 */
const TILE_URL = "https://{s}.tiles.example.org/{z}/{x}/{y}.png";
let server: http.Server;
let base: string;
let passedOn: string[] = [];

async function serve(root: string): Promise<string> {
  const handler = createStaticHandler({ root, tileUrl: TILE_URL, tileAttribution: "Example" });
  passedOn = [];
  server = http.createServer((req, res) => {
    if (!handler(req, res as never)) {
      passedOn.push(req.url ?? "");
      res.writeHead(418).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  buildWebApp();
  base = await serve(DEFAULT_WEB_ROOT);
}, 60_000);

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
});

test("the page carries a strict CSP, nosniff, no referrer, and is revalidated", async () => {
  const response = await fetch(`${base}/`);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
  const csp = response.headers.get("content-security-policy") ?? "";
  const directives = Object.fromEntries(csp.split("; ").map((d) => [d.split(" ")[0], d.split(" ").slice(1).join(" ")]));
  expect(directives["script-src"]).toBe("'self'");
  expect(directives["connect-src"]).toBe("'self'");
  expect(directives["default-src"]).toBe("'self'");
  expect(directives["object-src"]).toBe("'none'");
  expect(directives["frame-ancestors"]).toBe("'none'");
  expect(directives["img-src"]).toBe("'self' data: https://*.tiles.example.org");
  expect(csp).not.toContain("unsafe-inline");
  expect(csp).not.toContain("unsafe-eval");
  expect(response.headers.get("x-content-type-options")).toBe("nosniff");
  expect(response.headers.get("referrer-policy")).toBe("no-referrer");
  expect(response.headers.get("cache-control")).toBe("no-cache");
  const html = await response.text();
  // No inline script: every <script> has a src.
  expect(html.match(/<script\b[^>]*>/g)?.every((tag) => / src="\/assets\/[^"]+\.js"/.test(tag))).toBe(true);
});

test("hashed assets are immutable and gzipped; the service worker and config are not cached for long", async () => {
  const html = await (await fetch(`${base}/`)).text();
  const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1];
  const asset = await fetch(`${base}${script}`, { headers: { "accept-encoding": "gzip" } });
  expect(asset.status).toBe(200);
  expect(asset.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
  expect(asset.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
  expect(asset.headers.get("content-encoding")).toBe("gzip");
  expect(asset.headers.get("x-content-type-options")).toBe("nosniff");
  const sw = await fetch(`${base}/sw.js`);
  expect(sw.headers.get("cache-control")).toBe("no-cache");
  expect(await sw.text()).toContain(script);
  const config = await fetch(`${base}/config.json`);
  expect(await config.json()).toEqual({ tileUrl: TILE_URL, tileAttribution: "Example" });
  expect((await fetch(`${base}/manifest.webmanifest`)).headers.get("content-type")).toBe("application/manifest+json");
});

test("RPC paths are left to Connect; unknown files and escapes are 404", async () => {
  expect((await fetch(`${base}/seeme.location.v1.LocationService/Sync`)).status).toBe(418);
  expect((await fetch(`${base}/grpc.health.v1.Health/Check`)).status).toBe(418);
  expect((await fetch(`${base}/`, { method: "POST" })).status).toBe(418);
  expect(passedOn).toEqual(["/seeme.location.v1.LocationService/Sync", "/grpc.health.v1.Health/Check", "/"]);
  const missing = await fetch(`${base}/assets/nothing.js`);
  expect(missing.status).toBe(404);
  expect(missing.headers.get("content-security-policy")).toContain("default-src 'self'");
  expect((await fetch(`${base}/..%2f..%2fpackage.json`)).status).toBe(404);
  expect((await fetch(`${base}/%2e%2e/%2e%2e/package.json`)).status).toBe(404);
});

test("without a build, the gateway says how to build the app", async () => {
  const empty = mkdtempSync(join(tmpdir(), "see-me-no-web-"));
  await new Promise((resolve) => server.close(resolve));
  const url = await serve(empty);
  const response = await fetch(`${url}/`);
  expect(response.status).toBe(404);
  expect(await response.text()).toContain("npm run build -w @seeme/web");
  rmSync(empty, { recursive: true });
});

test("the app shell (JS + CSS, gzipped, Leaflet and the QR decoder included) stays within 250 KB", () => {
  const assets = join(DEFAULT_WEB_ROOT, "assets");
  const shell = readdirSync(assets)
    .filter((name) => /\.(js|css)$/.test(name))
    .reduce((sum, name) => sum + gzipSync(readFileSync(join(assets, name)), { level: 9 }).length, 0);
  expect(shell).toBeGreaterThan(50 * 1024);
  expect(shell).toBeLessThanOrEqual(250 * 1024);
});
