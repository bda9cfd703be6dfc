import { createHmac, timingSafeEqual } from "node:crypto";
import { Code, ConnectError, createContextKey, type HandlerContext } from "@connectrpc/connect";

/**
 * Internal calls carry who they act for in HMAC-signed metadata. Only holders of
 * INTERNAL_AUTH_SECRET (the gateway and the services) can mint it, and the
 * gateway strips any `x-seeme-*` header a client sends, so a client can never
 * forge an identity. Values expire quickly so a captured header is useless.
 */
export const CALLER_HEADER = "x-seeme-caller";
export const SERVICE_HEADER = "x-seeme-service";
export const SESSION_HEADER = "x-seeme-session";
const LIFETIME_MS = 60_000;

function mac(secret: string, text: string): string {
  return createHmac("sha256", secret).update(text).digest("base64url");
}

function sign(secret: string, kind: string, subject: string, now: number): string {
  const expires = now + LIFETIME_MS;
  return `${subject}.${expires}.${mac(secret, `${kind}:${subject}.${expires}`)}`;
}

function verify(secret: string, kind: string, value: string | null, now: number): string | null {
  if (!value) return null;
  const parts = value.split(".");
  if (parts.length !== 3) return null;
  const [subject, expires, tag] = parts;
  const expected = Buffer.from(mac(secret, `${kind}:${subject}.${expires}`));
  const given = Buffer.from(tag);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  return Number(expires) >= now ? subject : null;
}

/** Header value asserting that a call acts for `accountId` (set by the gateway). */
export function signCaller(secret: string, accountId: string, now = Date.now()): string {
  return sign(secret, "caller", accountId, now);
}

/**
 * Header value describing the caller's session (set by the gateway on calls that
 * need it, e.g. push registration): a stable id and when the session ends.
 */
export function signSession(secret: string, sessionId: string, expiresAtMs: number, now = Date.now()): string {
  return sign(secret, "session", `${sessionId}~${expiresAtMs}`, now);
}

/** The session the gateway vouched for on this call, or undefined when it sent none (or a bad one). */
export function sessionOf(secret: string, ctx: HandlerContext): { id: string; expiresAt: Date } | undefined {
  const subject = verify(secret, "session", ctx.requestHeader.get(SESSION_HEADER), Date.now());
  const match = subject === null ? null : /^([A-Za-z0-9_-]+)~(\d+)$/.exec(subject);
  return match ? { id: match[1], expiresAt: new Date(Number(match[2])) } : undefined;
}

/** Header value asserting that a call comes from see-me service `service`. */
export function signService(secret: string, service: string, now = Date.now()): string {
  return sign(secret, "service", service, now);
}

export const callerKey = createContextKey<string | undefined>(undefined, { description: "verified account id" });

/** A check run before every method of a service; throws to refuse the call. */
export type Guard = (ctx: HandlerContext) => void;

/** Requires a verified account; handlers then read it with `callerOf(ctx)`. */
export function requireCaller(secret: string): Guard {
  return (ctx) => {
    const accountId = verify(secret, "caller", ctx.requestHeader.get(CALLER_HEADER), Date.now());
    if (!accountId) throw new ConnectError("missing or invalid caller credentials", Code.Unauthenticated);
    ctx.values.set(callerKey, accountId);
  };
}

/** Like requireCaller, but lets calls without a caller through (public RPCs such as Register). */
export function optionalCaller(secret: string): Guard {
  return (ctx) => {
    const header = ctx.requestHeader.get(CALLER_HEADER);
    if (header === null) return;
    const accountId = verify(secret, "caller", header, Date.now());
    if (!accountId) throw new ConnectError("invalid caller credentials", Code.Unauthenticated);
    ctx.values.set(callerKey, accountId);
  };
}

/** Requires a call from another see-me service (internal-only APIs). */
export function requireService(secret: string): Guard {
  return (ctx) => {
    if (!verify(secret, "service", ctx.requestHeader.get(SERVICE_HEADER), Date.now())) {
      throw new ConnectError("internal API: service credentials required", Code.PermissionDenied);
    }
  };
}

/** Requires `authorization: Bearer <admin token>` (operator APIs). */
export function requireAdmin(adminToken: string): Guard {
  const expected = Buffer.from(`Bearer ${adminToken}`);
  return (ctx) => {
    const given = Buffer.from(ctx.requestHeader.get("authorization") ?? "");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new ConnectError("admin credential required", Code.PermissionDenied);
    }
  };
}

/** The verified account of the current call. */
export function callerOf(ctx: HandlerContext): string {
  const accountId = ctx.values.get(callerKey);
  if (!accountId) throw new ConnectError("authentication required", Code.Unauthenticated);
  return accountId;
}

/**
 * Header value vouching for the client's network address, which services rate
 * limit on. Only the gateway knows it, so services ignore a value it did not
 * sign (a caller reaching a service directly cannot pick its own bucket).
 * Base64url because addresses contain the separator ".".
 */
export function signClientAddress(secret: string, address: string, now = Date.now()): string {
  return sign(secret, "address", Buffer.from(address).toString("base64url"), now);
}

/** The address in a value signClientAddress made, or undefined when absent, forged or expired. */
export function verifiedClientAddress(secret: string, value: string | null, now = Date.now()): string | undefined {
  const subject = verify(secret, "address", value, now);
  return subject === null ? undefined : Buffer.from(subject, "base64url").toString();
}
