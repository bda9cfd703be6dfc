import { createPrivateKey, createPublicKey, randomBytes, sign, verify, type KeyObject } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { Logger } from "@seeme/runtime/logger";
import type { ConnectionConfig } from "./config.js";

/** The server's Ed25519 signing key; the private half never leaves this object. */
export interface ServerSigner {
  sign(payload: Uint8Array): Uint8Array;
  verify(payload: Uint8Array, signature: Uint8Array): boolean;
  /** Raw 32-byte public key, for clients that want to check invites offline. */
  publicKey: Uint8Array;
}

// PKCS#8 DER header for an Ed25519 private key; the 32-byte seed follows.
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

export function createSigner(seed: Uint8Array): ServerSigner {
  const privateKey: KeyObject = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]),
    format: "der",
    type: "pkcs8",
  });
  const publicKey = createPublicKey(privateKey);
  const jwk = publicKey.export({ format: "jwk" });
  return {
    sign: (payload) => new Uint8Array(sign(null, payload, privateKey)),
    verify: (payload, signature) => signature.length === 64 && verify(null, payload, publicKey, signature),
    publicKey: new Uint8Array(Buffer.from(jwk.x!, "base64url")),
  };
}

/** Whether `signature` is the Ed25519 signature of `payload` by the raw 32-byte `publicKey` (false for a malformed key). */
export function verifyEd25519(publicKey: Uint8Array, payload: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    const key = createPublicKey({
      key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(publicKey).toString("base64url") },
      format: "jwk",
    });
    return verify(null, payload, key, signature);
  } catch {
    return false;
  }
}

/**
 * The configured key, or in development a key generated once into
 * `signingKeyFile` and reused, so invites survive restarts. (loadConfig already
 * refused a missing key in production.)
 */
export async function loadSigner(
  config: Pick<ConnectionConfig, "serverSigningKey" | "signingKeyFile">,
  log: Logger,
): Promise<ServerSigner> {
  if (config.serverSigningKey) return createSigner(config.serverSigningKey);
  const file = config.signingKeyFile;
  try {
    return createSigner(parseSeedFile(await readFile(file, "utf8"), file));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  await mkdir(dirname(file), { recursive: true });
  try {
    // "wx": if another process created it first, use theirs instead of overwriting.
    await writeFile(file, `${randomBytes(32).toString("base64")}\n`, { flag: "wx", mode: 0o600 });
    log.warn({ file }, "generated a development server signing key; set SERVER_SIGNING_KEY in production");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
  return createSigner(parseSeedFile(await readFile(file, "utf8"), file));
}

function parseSeedFile(text: string, file: string): Uint8Array {
  const seed = Buffer.from(text.trim(), "base64");
  if (seed.length !== 32) throw new Error(`${file} does not hold a base64 32-byte Ed25519 seed`);
  return new Uint8Array(seed);
}
