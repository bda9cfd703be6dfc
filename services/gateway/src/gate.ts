import { Code, ConnectError, createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { GatewayContext } from "./context.js";
import { publicError } from "./public-errors.js";
import { bearerToken, type Session } from "./sessions.js";

/**
 * "required": every call needs a valid session. "optional": a session is
 * verified if presented (identity decides per method what needs one, e.g.
 * Register does not, DeleteAccount does). "none": public (server info, health).
 */
export type SessionPolicy = "required" | "optional" | "none";

/** The session the gate verified for this call, if any. */
export const sessionKey = createContextKey<Session | undefined>(undefined, { description: "verified session" });

/**
 * Connect's request gate: runs once the headers are in and before any byte of
 * the body is read, so a call without a valid session costs a header parse
 * and a local session check (signature, expiry, revocation set), never a body
 * read, a protobuf parse or a call to identity.
 */
export function sessionGate(
  context: GatewayContext,
  policies: Map<string, SessionPolicy>,
): (ctx: HandlerContext) => Promise<void> {
  return async (ctx) => {
    const policy = policies.get(ctx.service.typeName) ?? "required";
    if (policy === "none") return;
    const token = bearerToken(ctx.requestHeader);
    if (token === undefined) {
      if (policy === "required")
        throw new ConnectError(
          'authentication required: send "Authorization: Bearer <session token>"',
          Code.Unauthenticated,
        );
      return;
    }
    const session = await context.sessions.verify(token).catch((error: unknown) => {
      throw publicError(error);
    });
    ctx.values.set(sessionKey, session);
  };
}
