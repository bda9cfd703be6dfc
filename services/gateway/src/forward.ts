import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { createHash } from "node:crypto";
import {
  CALLER_HEADER,
  SERVICE_HEADER,
  SESSION_HEADER,
  signCaller,
  signService,
  signSession,
} from "@seeme/runtime/caller";
import { CLIENT_ADDRESS_HEADER } from "@seeme/runtime/rate-limit";
import type { GatewayContext } from "./context.js";
import { bearerToken, type Session } from "./sessions.js";

/**
 * "required": every call needs a valid session. "optional": a session is
 * verified if presented (identity decides per method what needs one, e.g.
 * Register does not, DeleteAccount does).
 */
export type SessionPolicy = "required" | "optional";

// A signed value is valid for a minute (caller.ts); reused for a few seconds it
// still arrives well within its life, and the gateway skips an HMAC or two per call.
const REUSE_MS = 5_000;
const REUSED_CALLERS = 50_000;

/** The gateway's service credential and recent callers' credentials, each signed once per REUSE_MS. */
class Credentials {
  private service = { value: "", until: 0 };
  private readonly callers = new Map<string, { value: string; until: number }>();

  constructor(private readonly secret: string) {}

  forService(now: number): string {
    if (this.service.until <= now)
      this.service = { value: signService(this.secret, "gateway", now), until: now + REUSE_MS };
    return this.service.value;
  }

  forCaller(accountId: string, now: number): string {
    const cached = this.callers.get(accountId);
    if (cached && cached.until > now) return cached.value;
    const value = signCaller(this.secret, accountId, now);
    this.callers.set(accountId, { value, until: now + REUSE_MS });
    if (this.callers.size > REUSED_CALLERS) {
      for (const [key, entry] of this.callers) if (entry.until <= now) this.callers.delete(key);
    }
    return value;
  }
}

/** Metadata for the internal call: who we are, who the verified caller is, and where the call came from. */
async function upstreamCall(
  context: GatewayContext,
  credentials: Credentials,
  ctx: HandlerContext,
  policy: SessionPolicy,
  withSession = false,
): Promise<{ headers: Record<string, string>; session?: Session }> {
  const headers: Record<string, string> = { [SERVICE_HEADER]: credentials.forService(Date.now()) };
  const token = bearerToken(ctx.requestHeader);
  let session: Session | undefined;
  if (token !== undefined) {
    session = await context.sessions.verify(token);
    headers[CALLER_HEADER] = credentials.forCaller(session.accountId, Date.now());
    if (withSession)
      headers[SESSION_HEADER] = signSession(context.config.internalAuthSecret, sessionId(token), session.expiresAt);
  } else if (policy === "required")
    throw new ConnectError(
      'authentication required: send "Authorization: Bearer <session token>"',
      Code.Unauthenticated,
    );
  const address = ctx.requestHeader.get(CLIENT_ADDRESS_HEADER);
  if (address) headers[CLIENT_ADDRESS_HEADER] = address;
  return { headers, session };
}

/** A stable id for a session that is not the hash identity stores (domain-separated). */
const sessionId = (token: string) => createHash("sha256").update(`seeme-session-id:${token}`).digest("base64url");

const SESSION_ENDED = "session ended (expired, signed out by a key rotation, or account deleted); sign in again";

/**
 * Builds a Connect implementation of `service` that forwards every method to
 * the owning internal service: unary calls with a deadline, server streams for
 * as long as the client stays. Request and response messages pass unchanged;
 * client metadata does not (only what upstreamHeaders derives).
 */
export function forwardService<D extends DescService>(
  service: D,
  upstream: Client<D>,
  context: GatewayContext,
  policy: SessionPolicy,
  /** Also vouch for the caller's session (id and end) to the upstream service. */
  withSession = false,
): ServiceImpl<D> {
  const impl: Record<string, unknown> = {};
  const credentials = new Credentials(context.config.internalAuthSecret);
  const calls = upstream as unknown as Record<string, (request: unknown, options: object) => unknown>;
  for (const method of service.methods) {
    const call = calls[method.localName];
    if (method.methodKind === "unary") {
      impl[method.localName] = async (request: unknown, ctx: HandlerContext) => {
        const timeoutMs = Math.min(ctx.timeoutMs() ?? Infinity, context.config.upstreamTimeoutMs);
        const { headers } = await upstreamCall(context, credentials, ctx, policy, withSession);
        return call(request, { headers, timeoutMs, signal: ctx.signal });
      };
    } else if (method.methodKind === "server_streaming") {
      impl[method.localName] = async function* (request: unknown, ctx: HandlerContext) {
        const { headers, session } = await upstreamCall(context, credentials, ctx, policy);
        if (!session) return yield* call(request, { headers, signal: ctx.signal }) as AsyncIterable<unknown>;
        // A stream is checked once when it opens, so it must end with its session.
        const hold = context.sessions.hold(session);
        try {
          yield* call(request, {
            headers,
            signal: AbortSignal.any([ctx.signal, hold.signal]),
          }) as AsyncIterable<unknown>;
        } catch (error) {
          if (!hold.signal.aborted) throw error;
        } finally {
          hold.release();
        }
        if (hold.signal.aborted && !ctx.signal.aborted) throw new ConnectError(SESSION_ENDED, Code.Unauthenticated);
      };
    }
  }
  return impl as ServiceImpl<D>;
}
