import { createPrivateKey, createPublicKey, hkdfSync, randomBytes, type KeyObject } from "node:crypto";
import { calculateJwkThumbprint, jwtVerify, SignJWT } from "jose";
import { ConfigError, type Env } from "./config.js";

/**
 * Self-verifying session tokens: identity signs them (Ed25519 JWS, compact
 * JWT) and every gateway replica verifies them locally, so an authenticated
 * call costs no identity call and no database query. What they carry:
 *
 *   sub  account id          sid  session id (random)
 *   krt  the account key's rotation time (ms) when the session began
 *   sxp  when the session ends (SESSION_TTL after sign-in; bounds push
 *        registrations and live streams opened with it)
 *   iat / exp (the token's own short life)          iss  "see-me identity"
 *
 * Nothing else: no key, no pairID, no device detail. Revocation (deletion,
 * key rotation) is not in the token; gateways learn it from identity's events
 * (services/gateway/src/revocations.ts) and keep it for SESSION_TOKEN_MAX_TTL_MS.
 */
export interface SessionClaims {
  accountId: string;
  sessionId: string;
  /** Account.keyRotatedAt (ms) when the session was issued: a later rotation revokes it. */
  keyRotatedAt: number;
  issuedAt: number;
  /** When the token stops verifying (ms since epoch). */
  expiresAt: number;
  /** When the session ends (ms since epoch): streams and push registrations opened with it end then. */
  sessionEndsAt: number;
}

/**
 * No token lives longer than this: it bounds how long a gateway must remember
 * a revocation and how long a missed revocation event could matter.
 */
export const SESSION_TOKEN_MAX_TTL_MS = 60 * 60 * 1000;
const ALG = "EdDSA";
const ISSUER = "see-me identity";
// Tolerated clock difference between identity and the gateways.
const CLOCK_TOLERANCE_S = 5;
// PKCS#8 DER header for an Ed25519 private key; the 32-byte seed follows.
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
// SubjectPublicKeyInfo DER header for an Ed25519 public key; the 32 raw bytes follow.
const SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

export interface VerifyKey {
  /** RFC 7638 JWK thumbprint: the token header's `kid`. */
  kid: string;
  key: KeyObject;
  /** Raw 32-byte public key. */
  publicKey: Uint8Array;
}

async function verifyKey(key: KeyObject): Promise<VerifyKey> {
  const jwk = key.export({ format: "jwk" });
  return {
    kid: await calculateJwkThumbprint({ kty: jwk.kty!, crv: jwk.crv!, x: jwk.x! }),
    key,
    publicKey: new Uint8Array(Buffer.from(jwk.x!, "base64url")),
  };
}

/** The verify key of a raw 32-byte Ed25519 public key. */
export function publicVerifyKey(raw: Uint8Array): Promise<VerifyKey> {
  return verifyKey(createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: "der", type: "spki" }));
}

export interface SessionSigner {
  sign(claims: SessionClaims): Promise<string>;
  /** The public half, as gateways must be configured with it. */
  verifyKey: VerifyKey;
}

/** Signs session tokens with the Ed25519 key of `seed` (32 bytes). */
function privateKeyOf(seed: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: "der", type: "pkcs8" });
}

export async function sessionSigner(seed: Uint8Array): Promise<SessionSigner> {
  const privateKey = privateKeyOf(seed);
  const publicKey = await verifyKey(createPublicKey(privateKey));
  return {
    verifyKey: publicKey,
    sign: (claims) =>
      new SignJWT({ sid: claims.sessionId, krt: claims.keyRotatedAt, sxp: claims.sessionEndsAt })
        .setProtectedHeader({ alg: ALG, kid: publicKey.kid })
        .setSubject(claims.accountId)
        .setIssuer(ISSUER)
        .setIssuedAt(Math.floor(claims.issuedAt / 1000))
        .setExpirationTime(Math.floor(claims.expiresAt / 1000))
        .sign(privateKey),
  };
}

/** A fresh session id: 128 random bits. */
export function newSessionId(): string {
  return randomBytes(16).toString("base64url");
}

class InvalidSessionToken extends Error {}

/**
 * Verifies tokens against a small set of public keys chosen by `kid`, so a
 * signing key can be rotated: gateways accept old and new key while tokens
 * signed by the old one may still be alive (at most SESSION_TOKEN_MAX_TTL_MS).
 */
export class SessionTokenVerifier {
  private readonly keys: Map<string, KeyObject>;

  constructor(
    keys: VerifyKey[],
    private readonly now: () => number = Date.now,
  ) {
    this.keys = new Map(keys.map((k) => [k.kid, k.key]));
  }

  async verify(token: string): Promise<SessionClaims> {
    try {
      const { payload } = await jwtVerify(
        token,
        (header) => {
          const key = header.kid === undefined ? undefined : this.keys.get(header.kid);
          if (!key) throw new InvalidSessionToken("unknown signing key");
          return key;
        },
        {
          algorithms: [ALG],
          issuer: ISSUER,
          requiredClaims: ["sub", "sid", "krt", "sxp", "iat", "exp"],
          clockTolerance: CLOCK_TOLERANCE_S,
          currentDate: new Date(this.now()),
        },
      );
      const { sub, sid, krt, sxp, iat, exp } = payload as Record<string, unknown> & {
        sub: string;
        iat: number;
        exp: number;
      };
      if (typeof sid !== "string" || typeof krt !== "number" || typeof sxp !== "number")
        throw new InvalidSessionToken("malformed claims");
      // A token living longer than any we issue was not issued by us as configured.
      if ((exp - iat) * 1000 > SESSION_TOKEN_MAX_TTL_MS) throw new InvalidSessionToken("lifetime too long");
      return {
        accountId: sub,
        sessionId: sid,
        keyRotatedAt: krt,
        issuedAt: iat * 1000,
        expiresAt: exp * 1000,
        sessionEndsAt: sxp,
      };
    } catch (error) {
      if (error instanceof InvalidSessionToken) throw error;
      // jose's own errors (expired, bad signature, malformed): all the same to a caller.
      throw new InvalidSessionToken((error as Error).message);
    }
  }
}

/**
 * Development only: a key derived from INTERNAL_AUTH_SECRET, which identity
 * and gateways already share, so `npm start`, tests and the bench need no
 * extra secret. Production requires separate keys (only identity may sign).
 */
function developmentSeed(env: Env): Uint8Array {
  const secret = env.INTERNAL_AUTH_SECRET ?? "";
  return new Uint8Array(hkdfSync("sha256", secret, "see-me", "session-signing-key", 32));
}

function base64Key(name: string, text: string): Uint8Array {
  const bytes = Buffer.from(text, "base64");
  // Buffer.from drops invalid characters silently; re-encoding catches them.
  if (bytes.length !== 32 || bytes.toString("base64").replace(/=+$/, "") !== text.replace(/=+$/, "")) {
    throw new ConfigError(name, "must hold base64-encoded 32-byte Ed25519 keys");
  }
  return new Uint8Array(bytes);
}

/** Identity's SESSION_SIGNING_KEY (base64 32-byte Ed25519 seed); required in production. */
export function readSessionSigningSeed(env: Env): Uint8Array {
  const text = env.SESSION_SIGNING_KEY?.trim();
  if (text) return base64Key("SESSION_SIGNING_KEY", text);
  if (env.NODE_ENV === "production")
    throw new ConfigError("SESSION_SIGNING_KEY", "is required in production (base64 32-byte Ed25519 seed)");
  return developmentSeed(env);
}

/**
 * The gateway's SESSION_VERIFY_KEYS: comma-separated base64 raw Ed25519 public
 * keys (the current signing key's and, during a rotation, the previous one's).
 * Required in production; in development, the key derived like identity's.
 */
export function readSessionVerifyKeys(env: Env): Uint8Array[] {
  const text = env.SESSION_VERIFY_KEYS?.trim();
  if (text) {
    const keys = text
      .split(",")
      .map((part) => part.trim())
      .filter(Boolean);
    if (keys.length > 4) throw new ConfigError("SESSION_VERIFY_KEYS", "holds at most 4 keys");
    return keys.map((key) => base64Key("SESSION_VERIFY_KEYS", key));
  }
  if (env.NODE_ENV === "production")
    throw new ConfigError("SESSION_VERIFY_KEYS", "is required in production (base64 Ed25519 public keys)");
  return [publicKeyOf(developmentSeed(env))];
}

/** The raw public key of an Ed25519 seed (what SESSION_VERIFY_KEYS lists for SESSION_SIGNING_KEY). */
export function publicKeyOf(seed: Uint8Array): Uint8Array {
  const jwk = createPublicKey(privateKeyOf(seed)).export({ format: "jwk" });
  return new Uint8Array(Buffer.from(jwk.x!, "base64url"));
}
