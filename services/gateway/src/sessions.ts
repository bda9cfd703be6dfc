import { createHash } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { SESSION_TOKEN_MAX_TTL_MS, type SessionTokenVerifier } from "@seeme/runtime/session-token";

/**
 * Checks bearer tokens here, where the call lands: identity signed them
 * (Ed25519, @seeme/runtime/session-token), so a valid signature, an unexpired
 * token and no revocation are all it takes — no identity call, no query.
 * Revocations (deletion, key rotation) come from identity's events through
 * revocations.ts and are kept as long as a token can live.
 */
export interface Session {
  accountId: string;
  /** Random id identity gave the session. */
  sessionId: string;
  /** When the session ends (ms since epoch): streams opened with it end then. */
  expiresAt: number;
  /** The account key's rotation time the token was issued under. */
  keyRotatedAt: number;
}

/** A long-lived call's hold on its session: aborted when the session ends or is revoked. */
export interface SessionHold {
  signal: AbortSignal;
  release(): void;
}

interface Revocation {
  deleted: boolean;
  /** Tokens issued under an older key (krt before this) are refused. */
  keyRotatedAt: number;
  /** Forgotten after this: every token it could refuse has expired. */
  until: number;
}

// setTimeout's largest delay; a session longer than ~24.8 days is re-armed.
const MAX_TIMER_MS = 2 ** 31 - 1;
// Verified tokens are remembered (by hash, until their expiry) so a busy device
// costs a map lookup, not a signature check, per call.
const MAX_CACHED = 50_000;
// Clock difference tolerated between identity and gateways.
const CLOCK_SLACK_MS = 60_000;
const REFUSED = "invalid or expired session";

export class SessionVerifier {
  private readonly cache = new Map<string, Session & { tokenExpiresAt: number }>();
  private readonly revoked = new Map<string, Revocation>();
  private readonly holds = new Map<string, Map<AbortController, Session>>();
  // Closed until the revocations are replayed (service start-up): a token revoked
  // while this replica was down must not pass in the meantime.
  private opened = false;

  constructor(
    private readonly tokens: SessionTokenVerifier,
    private readonly now: () => number = Date.now,
  ) {}

  /** Starts accepting tokens: every revocation they could be subject to is known. */
  open(): void {
    this.opened = true;
  }

  async verify(token: string): Promise<Session> {
    if (!this.opened) throw new ConnectError("the gateway is starting; retry shortly", Code.Unavailable);
    const key = createHash("sha256").update(token).digest("base64url");
    const now = this.now();
    let session = this.cache.get(key);
    if (!session || session.tokenExpiresAt <= now) {
      this.cache.delete(key);
      const claims = await this.tokens.verify(token).catch(() => {
        throw new ConnectError(REFUSED, Code.Unauthenticated);
      });
      session = {
        accountId: claims.accountId,
        sessionId: claims.sessionId,
        expiresAt: claims.sessionEndsAt,
        keyRotatedAt: claims.keyRotatedAt,
        tokenExpiresAt: claims.expiresAt,
      };
      if (this.cache.size >= MAX_CACHED) this.evictExpired(now);
      if (this.cache.size < MAX_CACHED) this.cache.set(key, session);
    }
    if (this.isRevoked(session)) throw new ConnectError(REFUSED, Code.Unauthenticated);
    const { tokenExpiresAt: _, ...verified } = session;
    return verified;
  }

  /**
   * For calls that outlive a single check (Subscribe): the returned signal
   * aborts when the session ends or is revoked, so a stream never outlives
   * the credential that opened it.
   */
  hold(session: Session): SessionHold {
    const controller = new AbortController();
    const held = this.holds.get(session.accountId) ?? new Map<AbortController, Session>();
    this.holds.set(session.accountId, held);
    held.set(controller, session);
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
    if (this.isRevoked(session)) controller.abort();
    return { signal: controller.signal, release };
  }

  /** The account was deleted at `at` (ms): every token of it is refused from now on. */
  accountDeleted(accountId: string, at: number): void {
    this.revoke(accountId, at, { deleted: true, keyRotatedAt: Number.POSITIVE_INFINITY });
  }

  /** The account's key was rotated at `rotatedAt` (ms): tokens issued under the old key are refused. */
  keyRotated(accountId: string, rotatedAt: number): void {
    this.revoke(accountId, rotatedAt, { deleted: false, keyRotatedAt: rotatedAt });
  }

  private revoke(accountId: string, at: number, change: { deleted: boolean; keyRotatedAt: number }): void {
    const now = this.now();
    const previous = this.revoked.get(accountId);
    // Every token issued before `at` has expired by then (none lives longer).
    const until = Math.max(at + SESSION_TOKEN_MAX_TTL_MS + CLOCK_SLACK_MS, previous?.until ?? 0);
    this.revoked.set(accountId, {
      deleted: change.deleted || (previous?.deleted ?? false),
      keyRotatedAt: Math.max(change.keyRotatedAt, previous?.keyRotatedAt ?? 0),
      until,
    });
    for (const [controller, session] of [...(this.holds.get(accountId) ?? [])])
      if (this.isRevoked(session)) controller.abort();
    if (this.revoked.size % 1024 === 0) this.pruneRevocations(now);
  }

  private isRevoked(session: Session): boolean {
    const revocation = this.revoked.get(session.accountId);
    if (!revocation) return false;
    if (revocation.until <= this.now()) {
      this.revoked.delete(session.accountId);
      return false;
    }
    return revocation.deleted || session.keyRotatedAt < revocation.keyRotatedAt;
  }

  private pruneRevocations(now: number): void {
    for (const [accountId, revocation] of this.revoked) if (revocation.until <= now) this.revoked.delete(accountId);
  }

  private evictExpired(now: number): void {
    for (const [key, entry] of this.cache) if (entry.tokenExpiresAt <= now) this.cache.delete(key);
  }
}

/** The token of "Authorization: Bearer <token>", or undefined when absent. */
export function bearerToken(headers: Headers): string | undefined {
  return bearerTokenOf(headers.get("authorization") ?? undefined);
}

/** The token of an Authorization header's value (the raw relay reads headers without a Headers object). */
export function bearerTokenOf(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const match = /^Bearer ([A-Za-z0-9._~+/=-]{16,1024})$/.exec(value.trim());
  if (!match)
    throw new ConnectError('malformed Authorization header; expected "Bearer <session token>"', Code.Unauthenticated);
  return match[1];
}
