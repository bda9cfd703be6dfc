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
export interface Session {
  accountId: string;
  /** When identity ends the session (ms since epoch). */
  expiresAt: number;
}

/** A long-lived call's hold on its session: aborted when the session ends. */
export interface SessionHold {
  signal: AbortSignal;
  release(): void;
}

// setTimeout's largest delay; a session longer than ~24.8 days is re-armed.
const MAX_TIMER_MS = 2 ** 31 - 1;

export class SessionVerifier {
  private readonly cache = new Map<string, Session & { until: number }>();
  private readonly holds = new Map<string, Set<AbortController>>();

  constructor(
    private readonly identity: Client<typeof IdentityInternalService>,
    private readonly cacheMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async verify(token: string): Promise<Session> {
    const key = createHash("sha256").update(token).digest("base64url");
    const now = this.now();
    const cached = this.cache.get(key);
    if (cached && cached.until > now) return { accountId: cached.accountId, expiresAt: cached.expiresAt };
    this.cache.delete(key);
    const { accountId, expireTime } = await this.identity
      .verifySession({ sessionToken: token })
      .catch((error: unknown) => {
        const connectError = ConnectError.from(error);
        // Identity being down is not the client's fault: keep Unavailable/DeadlineExceeded as they are.
        if (connectError.code === Code.Unauthenticated || connectError.code === Code.InvalidArgument) {
          throw new ConnectError("invalid or expired session", Code.Unauthenticated);
        }
        throw connectError;
      });
    const expiresAt = expireTime ? Number(expireTime.seconds) * 1000 : now + this.cacheMs;
    this.cache.set(key, { accountId, expiresAt, until: Math.min(now + this.cacheMs, expiresAt) });
    if (this.cache.size > 50_000) this.evictExpired(now);
    return { accountId, expiresAt };
  }

  /**
   * For calls that outlive a single check (Subscribe): the returned signal
   * aborts when the session expires or the account is deleted or re-keyed, so
   * a stream never outlives the credential that opened it.
   */
  hold(session: Session): SessionHold {
    const controller = new AbortController();
    const held = this.holds.get(session.accountId) ?? new Set();
    this.holds.set(session.accountId, held);
    held.add(controller);
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      const left = session.expiresAt - this.now();
      if (left <= 0) return controller.abort();
      timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
    };
    arm();
    const release = () => {
      clearTimeout(timer);
      held.delete(controller);
      if (held.size === 0) this.holds.delete(session.accountId);
    };
    controller.signal.addEventListener("abort", release, { once: true });
    return { signal: controller.signal, release };
  }

  /** Drops every cached session of an account and ends its held calls (it was deleted or its key rotated). */
  forget(accountId: string): void {
    for (const [key, entry] of this.cache) if (entry.accountId === accountId) this.cache.delete(key);
    for (const controller of [...(this.holds.get(accountId) ?? [])]) controller.abort();
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
  if (!match)
    throw new ConnectError('malformed Authorization header; expected "Bearer <session token>"', Code.Unauthenticated);
  return match[1];
}
