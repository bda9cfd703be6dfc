import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { deflateSync, inflateSync } from "node:zlib";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { startStack, type Stack } from "../../stack.js";

/**
 * What the web app's browser tests share: the real stack in this process with
 * its gateway serving the built app (packages/web/dist), a tile server on
 * loopback (tests have no internet), and phones — one Chromium each, 390×844,
 * whose camera plays a Y4M file the test writes from the other phone's QR.
 */
const CHROMIUM = "/usr/bin/chromium";
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-quic",
  "--no-first-run",
  "--disable-component-update",
  "--disable-sync",
];
const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const PHONE = { width: 390, height: 844 };
export const SCREENSHOTS = join(ROOT, "docs/screenshots");

/** Builds the app when its sources changed since the last build (the build script checks). */
export function buildWebApp(): void {
  execFileSync(process.execPath, [join(ROOT, "packages/web/scripts/build.mjs")], { stdio: "pipe" });
}

export interface WebStack {
  stack: Stack;
  url: string;
  tileServer: http.Server;
  stop(): Promise<void>;
}

export async function startWebStack(label: string, env: Record<string, string> = {}): Promise<WebStack> {
  if (!existsSync(CHROMIUM))
    throw new Error(`Chromium is not installed at ${CHROMIUM}: run "apt-get install -y chromium" (.ci/run does)`);
  buildWebApp();
  const tile = pngEncode(256, 256, (x, y) => (x % 64 === 0 || y % 64 === 0 ? [200, 200, 190] : [236, 234, 224]));
  const tileServer = http.createServer((req, res) => {
    if (/^\/tiles\/\d+\/\d+\/\d+\.png$/.test(req.url ?? ""))
      res.writeHead(200, { "content-type": "image/png" }).end(tile);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => tileServer.listen(0, "127.0.0.1", resolve));
  const tileUrl = `http://127.0.0.1:${(tileServer.address() as AddressInfo).port}/tiles/{z}/{x}/{y}.png`;
  const stack = await startStack(label, { env: { TILE_URL: tileUrl, TILE_ATTRIBUTION: "Test tiles", ...env } });
  return {
    stack,
    url: `${stack.gatewayUrl}/`,
    tileServer,
    async stop() {
      await stack.stop();
      await new Promise((resolve) => tileServer.close(resolve));
    },
  };
}

export interface Phone {
  context: BrowserContext;
  page: Page;
  /** The file this phone's camera plays; write the code it should see with `showToCamera`. */
  cameraFile: string;
  errors: string[];
  close(): Promise<void>;
}

/**
 * One phone. `persistent` gives it a profile on disk (like an installed browser) instead of an
 * off-the-record context: service-worker notifications need one.
 */
export async function openPhone(
  url: string,
  name: string,
  geolocation?: { latitude: number; longitude: number },
  permissions: string[] = [],
  options: { persistent?: boolean; initScript?: string } = {},
): Promise<Phone> {
  const dir = join(tmpdir(), `see-me-web-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const cameraFile = join(dir, `${name}-camera.y4m`);
  writeFileSync(cameraFile, y4mFrame(blankFrame()));
  const launch = {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      ...FLAGS,
      "--use-fake-ui-for-media-stream",
      "--use-fake-device-for-media-stream",
      `--use-file-for-fake-video-capture=${cameraFile}`,
      "--autoplay-policy=no-user-gesture-required",
    ],
  };
  const contextOptions = {
    viewport: PHONE,
    deviceScaleFactor: 1,
    geolocation: geolocation && { ...geolocation, accuracy: 10 },
    permissions: [...(geolocation ? ["geolocation"] : []), ...permissions],
    locale: "en-GB",
  };
  let browser: Browser | undefined;
  let context: BrowserContext;
  const profile = join(dir, `${name}-profile`);
  if (options.persistent) context = await chromium.launchPersistentContext(profile, { ...launch, ...contextOptions });
  else {
    browser = await chromium.launch(launch);
    context = await browser.newContext(contextOptions);
  }
  if (options.initScript) await context.addInitScript(options.initScript);
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error" && /Content Security Policy|Refused/.test(message.text()))
      errors.push(message.text());
  });
  await page.goto(url);
  const close = async () => {
    await (browser ? browser.close() : context.close());
    if (options.persistent) rmSync(profile, { recursive: true, force: true });
  };
  return { context, page, cameraFile, errors, close };
}

/** Creates the device on the first-run screen. */
export async function createDevice(phone: Phone, name: string): Promise<void> {
  const { page } = phone;
  await page.getByLabel("Your name").fill(name);
  await page.getByRole("button", { name: "Create this device" }).click();
  await page.getByRole("navigation", { name: "Screens" }).waitFor();
}

export async function goTo(phone: Phone, screen: "Map" | "Status" | "Messages" | "People"): Promise<void> {
  await phone.page.getByRole("navigation", { name: "Screens" }).getByRole("button", { name: screen }).click();
}

/** The three-step pairing with the codes pasted as text (no camera); `a` shows first. */
export async function pairByPasting(a: Phone, b: Phone, names: { a: string; b: string }): Promise<void> {
  const paste = async (from: Phone, to: Phone) => {
    await from.page.getByText("Show the code as text").click();
    const code = await from.page.getByLabel("Code to paste on the other phone").inputValue();
    await to.page.getByLabel("Or paste their code").fill(code);
    await to.page.getByRole("button", { name: "Use this code" }).click();
  };
  await goTo(a, "People");
  await goTo(b, "People");
  await a.page.getByRole("button", { name: "Add someone" }).click();
  await a.page.getByLabel("Their name (only you see it)").fill(names.b);
  await a.page.getByRole("button", { name: "Show my code" }).click();
  await b.page.getByRole("button", { name: "Add someone" }).click();
  await b.page.getByLabel("Their name (only you see it)").fill(names.a);
  await b.page.getByRole("button", { name: "Scan their code" }).click();
  await paste(a, b);
  await b.page.getByText("Step 2 of 3").waitFor();
  await a.page.getByRole("button", { name: `Next: scan ${names.b}'s code` }).click();
  await paste(b, a);
  await a.page.getByText("Step 3 of 3").waitFor();
  await b.page.getByRole("button", { name: `Next: scan ${names.a}'s last code` }).click();
  await paste(a, b);
  await b.page.getByText(`You and ${names.a} are connected.`).waitFor();
  await a.page.getByText(`You and ${names.b} are connected.`).waitFor({ timeout: 10_000 });
}

/** Alice and Bob, each with a device, paired by pasting the codes: where most screen tests start. */
export async function pairedPhones(alicePhone: Promise<Phone>, bobPhone: Promise<Phone>): Promise<[Phone, Phone]> {
  const [alice, bob] = await Promise.all([alicePhone, bobPhone]);
  await Promise.all([createDevice(alice, "Alice"), createDevice(bob, "Bob")]);
  await pairByPasting(alice, bob, { a: "Alice", b: "Bob" });
  return [alice, bob];
}

/** Puts the QR code `shower` displays in front of `viewer`'s camera (a Y4M frame from a screenshot of it). */
export async function showToCamera(shower: Phone, viewer: Phone): Promise<void> {
  const png = await shower.page.getByRole("img", { name: /QR code/ }).screenshot();
  writeFileSync(viewer.cameraFile, y4mFrame(pngToFrame(png)));
}

/** Points the camera at nothing (a grey frame). */
export function blankCamera(phone: Phone): void {
  writeFileSync(phone.cameraFile, y4mFrame(blankFrame()));
}

// ---- Y4M: the camera file Chromium plays

const FRAME_W = 640;
const FRAME_H = 480;

interface Frame {
  /** Luma, FRAME_W × FRAME_H. */
  y: Uint8Array;
}

function blankFrame(): Frame {
  return { y: new Uint8Array(FRAME_W * FRAME_H).fill(200) };
}

/** A 4:2:0 Y4M file of one grey-scale frame (chroma neutral): what a camera pointed at a QR sees. */
function y4mFrame(frame: Frame): Buffer {
  const chroma = Buffer.alloc((FRAME_W / 2) * (FRAME_H / 2) * 2, 128);
  return Buffer.concat([
    Buffer.from(`YUV4MPEG2 W${FRAME_W} H${FRAME_H} F10:1 Ip A1:1 C420jpeg\nFRAME\n`),
    Buffer.from(frame.y),
    chroma,
  ]);
}

/** Centres the screenshot in the frame, scaled (nearest neighbour) to 400 px high. */
function pngToFrame(png: Buffer): Frame {
  const image = pngDecode(png);
  const frame = new Uint8Array(FRAME_W * FRAME_H).fill(255);
  const size = 400;
  const scale = Math.max(image.width, image.height) / size;
  const left = (FRAME_W - size) / 2;
  const top = (FRAME_H - size) / 2;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const sx = Math.floor(x * scale);
      const sy = Math.floor(y * scale);
      if (sx >= image.width || sy >= image.height) continue;
      const i = (sy * image.width + sx) * 4;
      frame[(top + y) * FRAME_W + left + x] = Math.round(
        0.299 * image.rgba[i] + 0.587 * image.rgba[i + 1] + 0.114 * image.rgba[i + 2],
      );
    }
  }
  return { y: frame };
}

// ---- PNG: just enough for Chromium's screenshots (8-bit RGB/RGBA, not interlaced) and a test tile

function pngDecode(png: Buffer): { width: number; height: number; rgba: Uint8Array } {
  let offset = 8;
  let width = 0;
  let height = 0;
  let colorType = 6;
  const data: Buffer[] = [];
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString("ascii", offset + 4, offset + 8);
    const body = png.subarray(offset + 8, offset + 8 + length);
    if (type === "IHDR") {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      colorType = body[9];
      if (body[8] !== 8 || body[12] !== 0) throw new Error("only 8-bit, non-interlaced PNGs are read here");
    } else if (type === "IDAT") data.push(body);
    offset += 12 + length;
  }
  const channels = colorType === 6 ? 4 : colorType === 2 ? 3 : 0;
  if (!channels) throw new Error(`PNG colour type ${colorType} is not read here`);
  const raw = inflateSync(Buffer.concat(data));
  const stride = width * channels;
  const pixels = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? pixels[y * stride + x - channels] : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + x] : 0;
      const c = x >= channels && y > 0 ? pixels[(y - 1) * stride + x - channels] : 0;
      let value = line[x];
      if (filter === 1) value += a;
      else if (filter === 2) value += b;
      else if (filter === 3) value += (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        value += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      pixels[y * stride + x] = value & 0xff;
    }
  }
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    rgba[i * 4] = pixels[i * channels];
    rgba[i * 4 + 1] = pixels[i * channels + 1];
    rgba[i * 4 + 2] = pixels[i * channels + 2];
    rgba[i * 4 + 3] = channels === 4 ? pixels[i * channels + 3] : 255;
  }
  return { width, height, rgba };
}

function pngEncode(width: number, height: number, pixel: (x: number, y: number) => [number, number, number]): Buffer {
  const raw = Buffer.alloc(height * (width * 3 + 1));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) raw.set(pixel(x, y), y * (width * 3 + 1) + 1 + x * 3);
  }
  const chunk = (type: string, body: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(body.length);
    const typed = Buffer.concat([Buffer.from(type, "ascii"), body]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(typed));
    return Buffer.concat([length, typed, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}
