import { jest } from "@jest/globals";
import { Code } from "@connectrpc/connect";
import { SESSION_TOKEN_MAX_TTL_MS, type SessionClaims, type SessionTokenVerifier } from "@seeme/runtime/session-token";
import { bearerToken, type Session, type SessionHold, SessionVerifier } from "../src/sessions.js";

/**
 * The gateway's session check on its own: a stand-in token verifier (which claims each
 * token carries, how often it was asked) and a clock the test moves, so the cache's and the
 * revocations' time limits are shown at their exact edges. The signed tokens themselves are
 * covered by revocation.test.ts and gateway.test.ts.
 */
const REFUSED = "invalid or expired session";
// Clock difference tolerated between identity and gateways (sessions.ts).
const CLOCK_SLACK_MS = 60_000;
const MAX_CACHED = 50_000;

// Every hold a test takes is released after it, so no session timer outlives the test.
const taken: SessionHold[] = [];
afterEach(() => {
  for (const hold of taken.splice(0)) hold.release();
});

function harness() {
  let now = 1_000_000;
  const issued = new Map<string, SessionClaims>();
  const verified: string[] = [];
  const tokens = {
    async verify(token: string): Promise<SessionClaims> {
      verified.push(token);
      const claims = issued.get(token);
      // As the real verifier: an unknown or expired token is refused.
      if (!claims || claims.expiresAt <= now) throw new Error("invalid token");
      return claims;
    },
  } as unknown as SessionTokenVerifier;
  const sessions = new SessionVerifier(tokens, () => now);
  sessions.open();
  let serial = 0;
  const mint = (accountId: string, claims: Partial<SessionClaims> = {}): string => {
    const token = `token-${++serial}-${accountId}`;
    issued.set(token, {
      accountId,
      sessionId: `session-${serial}`,
      keyRotatedAt: now - 1000,
      issuedAt: now,
      expiresAt: now + 15 * 60_000,
      sessionEndsAt: now + 24 * 3_600_000,
      ...claims,
    });
    return token;
  };
  const hold = (session: Session): SessionHold => {
    const held = sessions.hold(session);
    taken.push(held);
    return held;
  };
  return {
    sessions,
    mint,
    hold,
    verified,
    now: () => now,
    set: (at: number) => {
      now = at;
    },
    advance: (ms: number) => {
      now += ms;
    },
  };
}

const refused = { code: Code.Unauthenticated, rawMessage: REFUSED };

describe("SessionVerifier.verify", () => {
  it("refuses every token until opened, as Unavailable (retry), without verifying it", async () => {
    const tokens = { verify: jest.fn() } as unknown as SessionTokenVerifier;
    const sessions = new SessionVerifier(tokens);
    await expect(sessions.verify("any-token-at-all")).rejects.toMatchObject({
      code: Code.Unavailable,
      rawMessage: "the gateway is starting; retry shortly",
    });
    expect(tokens.verify).not.toHaveBeenCalled();
  });

  it("answers the token's claims, and checks a token's signature once while it is valid", async () => {
    const h = harness();
    const token = h.mint("alice");
    const expected = {
      accountId: "alice",
      sessionId: "session-1",
      expiresAt: h.now() + 24 * 3_600_000,
      keyRotatedAt: h.now() - 1000,
    };
    expect(await h.sessions.verify(token)).toStrictEqual(expected);
    h.advance(15 * 60_000 - 1);
    expect(await h.sessions.verify(token)).toStrictEqual(expected);
    expect(h.verified).toEqual([token]);
    // Another token is checked on its own.
    const other = h.mint("alice");
    expect((await h.sessions.verify(other)).sessionId).toBe("session-2");
    expect(h.verified).toEqual([token, other]);
  });

  it("forgets a cached token when it expires: from its expiry on it is checked again, and refused", async () => {
    const h = harness();
    const token = h.mint("alice");
    await h.sessions.verify(token);
    h.advance(15 * 60_000);
    await expect(h.sessions.verify(token)).rejects.toMatchObject(refused);
    expect(h.verified).toEqual([token, token]);
  });

  it("refuses a token the verifier refuses as Unauthenticated, and does not remember the refusal", async () => {
    const h = harness();
    await expect(h.sessions.verify("forged-token-value")).rejects.toMatchObject(refused);
    await expect(h.sessions.verify("forged-token-value")).rejects.toMatchObject(refused);
    expect(h.verified).toEqual(["forged-token-value", "forged-token-value"]);
  });

  it(`remembers at most ${MAX_CACHED} tokens; once full, expired ones make room`, async () => {
    const h = harness();
    const first = Array.from({ length: MAX_CACHED }, () => h.mint("many", { expiresAt: h.now() + 1000 }));
    for (const token of first) await h.sessions.verify(token);
    // Full: a further token is verified but not remembered.
    const extra = h.mint("extra");
    await h.sessions.verify(extra);
    await h.sessions.verify(extra);
    expect(h.verified.filter((t) => t === extra)).toHaveLength(2);
    // The cached ones are still remembered.
    await h.sessions.verify(first[0]!);
    expect(h.verified.filter((t) => t === first[0])).toHaveLength(1);
    // Once they expire, the next new token evicts them and is remembered.
    h.advance(1000);
    const later = h.mint("later");
    await h.sessions.verify(later);
    await h.sessions.verify(later);
    expect(h.verified.filter((t) => t === later)).toHaveLength(1);
  });
});

describe("SessionVerifier revocations", () => {
  it("a key rotation refuses tokens issued under an older key, not those of the new key or of other accounts", async () => {
    const h = harness();
    const rotatedAt = h.now();
    const old = h.mint("alice", { keyRotatedAt: rotatedAt - 1 });
    const current = h.mint("alice", { keyRotatedAt: rotatedAt });
    const bobs = h.mint("bob", { keyRotatedAt: rotatedAt - 1 });
    await h.sessions.verify(old);
    h.sessions.keyRotated("alice", rotatedAt);
    // Refused even though it was cached.
    await expect(h.sessions.verify(old)).rejects.toMatchObject(refused);
    expect((await h.sessions.verify(current)).accountId).toBe("alice");
    expect((await h.sessions.verify(bobs)).accountId).toBe("bob");
    // An older rotation heard later does not undo the newer one.
    h.sessions.keyRotated("alice", rotatedAt - 10_000);
    await expect(h.sessions.verify(old)).rejects.toMatchObject(refused);
  });

  it("a deletion refuses every token of the account, whatever key it was issued under, and a later rotation does not undo it", async () => {
    const h = harness();
    const deletedAt = h.now();
    const before = h.mint("alice", { keyRotatedAt: deletedAt - 1 });
    const after = h.mint("alice", { keyRotatedAt: deletedAt + 5000 });
    h.sessions.accountDeleted("alice", deletedAt);
    await expect(h.sessions.verify(before)).rejects.toMatchObject(refused);
    await expect(h.sessions.verify(after)).rejects.toMatchObject(refused);
    h.sessions.keyRotated("alice", deletedAt + 1000);
    await expect(h.sessions.verify(after)).rejects.toMatchObject(refused);
    expect((await h.sessions.verify(h.mint("bob"))).accountId).toBe("bob");
  });

  it("keeps a revocation as long as a token issued before it can live (plus clock slack), then forgets it", async () => {
    const h = harness();
    const at = h.now();
    h.sessions.keyRotated("alice", at);
    const until = at + SESSION_TOKEN_MAX_TTL_MS + CLOCK_SLACK_MS;
    // The stand-in verifier accepts old-key tokens at any time, so the revocation alone refuses them.
    h.set(until - 1);
    await expect(h.sessions.verify(h.mint("alice", { keyRotatedAt: at - 1 }))).rejects.toMatchObject(refused);
    h.set(until);
    expect((await h.sessions.verify(h.mint("alice", { keyRotatedAt: at - 1 }))).accountId).toBe("alice");
    // Forgotten, not merely ignored: the table does not keep it.
    expect((h.sessions as unknown as { revoked: Map<string, unknown> }).revoked.has("alice")).toBe(false);
  });

  it("an older revocation heard later does not shorten how long the newer one is kept", async () => {
    const h = harness();
    const at = h.now();
    h.sessions.keyRotated("alice", at);
    h.sessions.keyRotated("alice", at - 30 * 60_000);
    h.set(at + SESSION_TOKEN_MAX_TTL_MS + CLOCK_SLACK_MS - 1);
    await expect(h.sessions.verify(h.mint("alice", { keyRotatedAt: at - 1 }))).rejects.toMatchObject(refused);
  });

  it("drops expired revocations as new ones arrive, so the table stays bounded", async () => {
    const h = harness();
    const revoked = (h.sessions as unknown as { revoked: Map<string, unknown> }).revoked;
    for (let i = 0; i < 1023; i++) h.sessions.accountDeleted(`old-${i}`, h.now());
    expect(revoked.size).toBe(1023);
    h.advance(SESSION_TOKEN_MAX_TTL_MS + CLOCK_SLACK_MS);
    // The 1024th revocation sweeps out the 1023 expired ones.
    h.sessions.accountDeleted("new", h.now());
    expect([...revoked.keys()]).toEqual(["new"]);
  });
});

describe("SessionVerifier.hold", () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it("aborts at once when the session has already ended, or its account is revoked", async () => {
    const h = harness();
    const session = await h.sessions.verify(h.mint("alice", { sessionEndsAt: h.now() + 1000 }));
    h.advance(1000);
    expect(h.hold(session).signal.aborted).toBe(true);

    const bobs = await h.sessions.verify(h.mint("bob"));
    h.sessions.accountDeleted("bob", h.now());
    expect(h.hold(bobs).signal.aborted).toBe(true);
  });

  it("aborts when the session ends, re-arming the timer for a session longer than setTimeout allows", async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const h = harness();
    const long = 30 * 24 * 3_600_000;
    const session = await h.sessions.verify(h.mint("alice", { sessionEndsAt: h.now() + long }));
    const hold = h.hold(session);
    // setTimeout's largest delay (2^31 − 1 ms, ~24.8 days) passes first: not ended yet.
    h.advance(2 ** 31 - 1);
    jest.advanceTimersByTime(2 ** 31 - 1);
    expect(hold.signal.aborted).toBe(false);
    h.advance(long - (2 ** 31 - 1) - 1);
    jest.advanceTimersByTime(long - (2 ** 31 - 1) - 1);
    expect(hold.signal.aborted).toBe(false);
    h.advance(1);
    jest.advanceTimersByTime(1);
    expect(hold.signal.aborted).toBe(true);
  });

  it("a released or aborted hold leaves no timer behind: an ended stream holds nothing until its session would end", async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const h = harness();
    const released = h.hold(await h.sessions.verify(h.mint("alice")));
    const revoked = h.hold(await h.sessions.verify(h.mint("bob")));
    expect(jest.getTimerCount()).toBe(2);
    released.release();
    h.sessions.accountDeleted("bob", h.now());
    expect([released.signal.aborted, revoked.signal.aborted]).toEqual([false, true]);
    expect(jest.getTimerCount()).toBe(0);
  });

  it("aborts the holds of a revoked account only, and only those issued under an older key", async () => {
    const h = harness();
    const rotatedAt = h.now();
    const old = h.hold(await h.sessions.verify(h.mint("alice", { keyRotatedAt: rotatedAt - 1 })));
    const current = h.hold(await h.sessions.verify(h.mint("alice", { keyRotatedAt: rotatedAt })));
    const bobs = h.hold(await h.sessions.verify(h.mint("bob", { keyRotatedAt: rotatedAt - 1 })));
    h.sessions.keyRotated("alice", rotatedAt);
    expect([old.signal.aborted, current.signal.aborted, bobs.signal.aborted]).toEqual([true, false, false]);
  });

  it("a released hold is no longer aborted by a revocation, and forgets its account once none is left", async () => {
    const h = harness();
    const holds = (h.sessions as unknown as { holds: Map<string, Map<unknown, unknown>> }).holds;
    const first = h.hold(await h.sessions.verify(h.mint("alice")));
    const second = h.hold(await h.sessions.verify(h.mint("alice")));
    first.release();
    expect(holds.get("alice")?.size).toBe(1);
    h.sessions.accountDeleted("alice", h.now());
    expect([first.signal.aborted, second.signal.aborted]).toEqual([false, true]);
    // The abort released the second: no hold of alice's is kept.
    expect(holds.has("alice")).toBe(false);
  });
});

describe("bearerToken", () => {
  const headers = (authorization?: string) => new Headers(authorization === undefined ? {} : { authorization });

  it("reads the token of a Bearer header, and nothing when there is none", () => {
    const token = "abcdefghijklmnop.QRS_tu-v~w+x/y=";
    expect(bearerToken(headers(`Bearer ${token}`))).toBe(token);
    expect(bearerToken(headers(`  Bearer ${token}  `))).toBe(token);
    expect(bearerToken(headers())).toBeUndefined();
  });

  it.each([
    ["another scheme", "Basic abcdefghijklmnopqrstuvwxyz"],
    ["a token shorter than 16 characters", "Bearer abcdefghijklmno"],
    ["a token longer than 1024 characters", `Bearer ${"a".repeat(1025)}`],
    ["a character outside the token alphabet", "Bearer abcdefghijklmnop!"],
    ["text before the scheme", "x Bearer abcdefghijklmnopqrstuvwxyz"],
    ["text after the token", "Bearer abcdefghijklmnopqrstuvwxyz extra"],
    ["an empty header", ""],
  ])("refuses %s as Unauthenticated, saying what is expected", (_what, value) => {
    expect(() => bearerToken(headers(value))).toThrow(
      expect.objectContaining({
        code: Code.Unauthenticated,
        rawMessage: 'malformed Authorization header; expected "Bearer <session token>"',
      }),
    );
  });

  it("takes tokens of exactly 16 and 1024 characters", () => {
    expect(bearerToken(headers(`Bearer ${"a".repeat(16)}`))).toHaveLength(16);
    expect(bearerToken(headers(`Bearer ${"a".repeat(1024)}`))).toHaveLength(1024);
  });
});
