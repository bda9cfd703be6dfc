import { createHash } from "node:crypto";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import type { IdentityInternalService } from "@seeme/contracts/identity";

/**
 * Resolves bearer tokens to account ids through identity, remembering answers
 * for a few seconds so a busy client does not cost a round trip per call.
 * Only successes are cached, keyed by the token's hash (tokens are not kept);
 * an account's entries are dropped as soon as identity announces its deletion
 * or key rotation (see revocations.ts); the TTL bounds it if that is missed.
 */
export class SessionVerifier {
  private readonly cache = new Map<string, { accountId: string; until: number }>();

  constructor(
    private readonly identity: Client<typeof IdentityInternalService>,
    private readonly cacheMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async verify(token: string): Promise<string> {
    const key = createHash("sha256").update(token).digest("base64url");
    const now = this.now();
    const cached = this.cache.get(key);
    if (cached && cached.until > now) return cached.accountId;
    this.cache.delete(key);
    const { accountId, expireTime } = await this.identity.verifySession({ sessionToken: token }).catch((error: unknown) => {
      const connectError = ConnectError.from(error);
      // Identity being down is not the client's fault: keep Unavailable/DeadlineExceeded as they are.
      if (connectError.code === Code.Unauthenticated || connectError.code === Code.InvalidArgument) {
        throw new ConnectError("invalid or expired session", Code.Unauthenticated);
      }
      throw connectError;
    });
    const sessionEnd = expireTime ? Number(expireTime.seconds) * 1000 : now + this.cacheMs;
    this.cache.set(key, { accountId, until: Math.min(now + this.cacheMs, sessionEnd) });
    if (this.cache.size > 50_000) this.evictExpired(now);
    return accountId;
  }

  /** Drops every cached session of an account (it was deleted or its key rotated). */
  forget(accountId: string): void {
    for (const [key, entry] of this.cache) if (entry.accountId === accountId) this.cache.delete(key);
  }

  private evictExpired(now: number): void {
    for (const [key, entry] of this.cache) if (entry.until <= now) this.cache.delete(key);
  }
}

/** The token of "Authorization: Bearer <token>", or undefined when absent. */
export function bearerToken(headers: Headers): string | undefined {
  const value = headers.get("authorization");
  if (value === null) return undefined;
  const match = /^Bearer ([A-Za-z0-9._~+/=-]{16,512})$/.exec(value.trim());
  if (!match) throw new ConnectError("malformed Authorization header; expected \"Bearer <session token>\"", Code.Unauthenticated);
  return match[1];
}
