import { newSessionId, readSessionSigningSeed, sessionSigner, type SessionClaims } from "@seeme/runtime/session-token";

/**
 * Session tokens as identity would sign them in development (the key derived
 * from INTERNAL_AUTH_SECRET), for gateway tests that run without identity.
 */
export async function sessionTokenMinter(internalAuthSecret: string, seed?: Uint8Array) {
  const signer = await sessionSigner(seed ?? readSessionSigningSeed({ INTERNAL_AUTH_SECRET: internalAuthSecret }));
  return (accountId: string, claims: Partial<SessionClaims> = {}): Promise<string> => {
    const now = Date.now();
    return signer.sign({
      accountId,
      sessionId: newSessionId(),
      keyRotatedAt: 0,
      issuedAt: now,
      expiresAt: now + 15 * 60_000,
      sessionEndsAt: now + 24 * 3_600_000,
      ...claims,
    });
  };
}
