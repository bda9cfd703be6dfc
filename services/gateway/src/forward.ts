import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  CALLER_HEADER,
  SERVICE_HEADER,
  SESSION_HEADER,
  signCaller,
  signClientAddress,
  signService,
  signSession,
} from "@seeme/runtime/caller";
import { CLIENT_ADDRESS_HEADER } from "@seeme/runtime/rate-limit";
import type { GatewayContext } from "./context.js";
import { sessionKey, type SessionPolicy } from "./gate.js";
import { publicError } from "./public-errors.js";
import type { Session } from "./sessions.js";

// A signed value is valid for a minute (caller.ts); reused for a few seconds it
// still arrives well within its life, and the gateway skips an HMAC or two per call.
const REUSE_MS = 5_000;
const REUSED_CALLERS = 50_000;

/** The gateway's service credential and recent callers' credentials, each signed once per REUSE_MS. */
export class Credentials {
  private service = { value: "", until: 0 };
  private readonly callers = new Map<string, { value: string; until: number }>();
  private readonly addresses = new Map<string, { value: string; until: number }>();

  constructor(private readonly secret: string) {}

  forService(now: number): string {
    if (this.service.until <= now)
      this.service = { value: signService(this.secret, "gateway", now), until: now + REUSE_MS };
    return this.service.value;
  }

  forCaller(accountId: string, now: number): string {
    return reused(this.callers, accountId, now, () => signCaller(this.secret, accountId, now));
  }

  /** Services rate limit on the client address and trust it only when signed (spoofed headers are ignored). */
  forAddress(address: string, now: number): string {
    return reused(this.addresses, address, now, () => signClientAddress(this.secret, address, now));
  }
}

function reused(
  cache: Map<string, { value: string; until: number }>,
  key: string,
  now: number,
  sign: () => string,
): string {
  const cached = cache.get(key);
  if (cached && cached.until > now) return cached.value;
  const value = sign();
  cache.set(key, { value, until: now + REUSE_MS });
  if (cache.size > REUSED_CALLERS) {
    for (const [stale, entry] of cache) if (entry.until <= now) cache.delete(stale);
  }
  return value;
}

/** Metadata for the internal call: who we are, who the verified caller is, and where the call came from. */
function upstreamCall(
  context: GatewayContext,
  credentials: Credentials,
  ctx: HandlerContext,
  policy: SessionPolicy,
  withSession = false,
): { headers: Record<string, string>; session?: Session } {
  const headers: Record<string, string> = { [SERVICE_HEADER]: credentials.forService(Date.now()) };
  // Verified by the request gate (gate.ts) before the body was read.
  const session = ctx.values.get(sessionKey);
  if (session) {
    headers[CALLER_HEADER] = credentials.forCaller(session.accountId, Date.now());
    // The id identity gave the session (a claim of the signed token).
    if (withSession)
      headers[SESSION_HEADER] = signSession(context.config.internalAuthSecret, session.sessionId, session.expiresAt);
  } else if (policy === "required") throw new ConnectError("authentication required", Code.Unauthenticated);
  const address = ctx.requestHeader.get(CLIENT_ADDRESS_HEADER);
  if (address) headers[CLIENT_ADDRESS_HEADER] = credentials.forAddress(address, Date.now());
  return { headers, session };
}

export const SESSION_ENDED = "session ended (expired, signed out by a key rotation, or account deleted); sign in again";

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
        const { headers } = upstreamCall(context, credentials, ctx, policy, withSession);
        return (call(request, { headers, timeoutMs, signal: ctx.signal }) as Promise<unknown>).catch(
          (error: unknown) => {
            throw publicError(error);
          },
        );
      };
    } else if (method.methodKind === "server_streaming") {
      impl[method.localName] = async function* (request: unknown, ctx: HandlerContext) {
        const { headers, session } = upstreamCall(context, credentials, ctx, policy);
        if (!session) {
          try {
            return yield* call(request, { headers, signal: ctx.signal }) as AsyncIterable<unknown>;
          } catch (error) {
            throw publicError(error);
          }
        }
        // A stream is checked once when it opens, so it must end with its session.
        const hold = context.sessions.hold(session);
        try {
          yield* call(request, {
            headers,
            signal: AbortSignal.any([ctx.signal, hold.signal]),
          }) as AsyncIterable<unknown>;
        } catch (error) {
          if (!hold.signal.aborted) throw publicError(error);
        } finally {
          hold.release();
        }
        if (hold.signal.aborted && !ctx.signal.aborted) throw new ConnectError(SESSION_ENDED, Code.Unauthenticated);
      };
    }
  }
  return impl as ServiceImpl<D>;
}
