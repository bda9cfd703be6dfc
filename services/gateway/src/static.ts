import { existsSync, readFileSync, statSync } from "node:fs";
import type http from "node:http";
import type http2 from "node:http2";
import { extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

/**
 * Serves the web app (packages/web/dist) at `/` with the security headers a
 * browser app needs: a strict Content-Security-Policy (no inline script,
 * connect-src limited to this gateway, images only from here and the tile
 * server), nosniff, no referrer, and immutable caching for hashed assets. RPC
 * paths (`/package.Service/Method`) are never answered here.
 */
export interface StaticOptions {
  /** The built app; missing → every page says how to build it. */
  root: string;
  /** Map tiles, Leaflet form: `https://tile.openstreetmap.org/{z}/{x}/{y}.png`. */
  tileUrl: string;
  tileAttribution: string;
}

/** Where `npm run build -w @seeme/web` writes the app, from this file (src/ or a compiled dist/ alike). */
export const DEFAULT_WEB_ROOT = fileURLToPath(new URL("../../../packages/web/dist", import.meta.url));
export const DEFAULT_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png";
export const DEFAULT_TILE_ATTRIBUTION =
  '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors';

const RPC_PATH = /^\/[A-Za-z_]\w*(\.\w+)+\/\w+$/;
const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".webmanifest": "application/manifest+json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
};
const COMPRESSIBLE = new Set([".html", ".js", ".css", ".json", ".webmanifest", ".svg"]);

/** The tile server's origin for img-src; Leaflet's `{s}` subdomains become a wildcard. */
export function tileOrigin(tileUrl: string): string {
  const match = /^(https?:\/\/[^/]+)/.exec(tileUrl.replace("{s}", "*"));
  return match ? match[1] : "";
}

export function contentSecurityPolicy(tileUrl: string): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    // Leaflet cancels tile loads by pointing them at a data: GIF.
    `img-src 'self' data: ${tileOrigin(tileUrl)}`.trim(),
    "connect-src 'self'",
    "media-src 'self' blob: mediastream:",
    "worker-src 'self'",
    "manifest-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}

type Response = http.ServerResponse & http2.Http2ServerResponse;

/** Returns a handler that answers GET/HEAD for the app's files and says false for anything else (RPCs). */
export function createStaticHandler(
  options: StaticOptions,
): (req: http.IncomingMessage | http2.Http2ServerRequest, res: Response) => boolean {
  const root = resolve(options.root);
  const security: Record<string, string> = {
    "content-security-policy": contentSecurityPolicy(options.tileUrl),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(self), geolocation=(self), microphone=()",
  };
  const config = JSON.stringify({ tileUrl: options.tileUrl, tileAttribution: options.tileAttribution });
  const gzipped = new Map<string, { mtimeMs: number; body: Buffer }>();

  return (req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") return false;
    const path = (req.url ?? "/").split("?", 1)[0];
    if (RPC_PATH.test(path)) return false;
    const send = (status: number, headers: Record<string, string>, body: Buffer | string) => {
      res.writeHead(status, { ...security, ...headers });
      res.end(req.method === "HEAD" ? undefined : body);
    };
    if (path === "/config.json") {
      send(200, { "content-type": TYPES[".json"], "cache-control": "no-cache" }, config);
      return true;
    }
    if (!existsSync(join(root, "index.html"))) {
      send(
        404,
        { "content-type": TYPES[".txt"], "cache-control": "no-store" },
        `The see-me web app is not built (looked in ${root}).\nBuild it with "npm run build -w @seeme/web" (npm start does this), or point WEB_ROOT at a built copy.\n`,
      );
      return true;
    }
    let relative: string;
    try {
      relative = normalize(decodeURIComponent(path === "/" ? "/index.html" : path));
    } catch {
      send(400, { "content-type": TYPES[".txt"] }, "bad path\n");
      return true;
    }
    const file = join(root, relative);
    const type = TYPES[extname(file)];
    if (!file.startsWith(root + sep) || !type || !existsSync(file) || !statSync(file).isFile()) {
      send(404, { "content-type": TYPES[".txt"], "cache-control": "no-store" }, "not found\n");
      return true;
    }
    // Hashed file names never change content: cache them for good. The rest is revalidated.
    const cache = relative.startsWith(`${sep}assets${sep}`) ? "public, max-age=31536000, immutable" : "no-cache";
    const headers: Record<string, string> = { "content-type": type, "cache-control": cache, vary: "Accept-Encoding" };
    const accepts = String(req.headers["accept-encoding"] ?? "");
    if (COMPRESSIBLE.has(extname(file)) && /\bgzip\b/.test(accepts)) {
      const { mtimeMs } = statSync(file);
      let entry = gzipped.get(file);
      if (!entry || entry.mtimeMs !== mtimeMs) {
        entry = { mtimeMs, body: gzipSync(readFileSync(file)) };
        gzipped.set(file, entry);
      }
      send(200, { ...headers, "content-encoding": "gzip" }, entry.body);
      return true;
    }
    send(200, headers, readFileSync(file));
    return true;
  };
}
