import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { ChallengePurpose } from "@seeme/contracts/identity";
import type { GatewayApi } from "./api.js";
import { fromBase64, toBase64 } from "./connection-state.js";
import { generateAccountKeyPair, importAccountKeyPair, signWithAccountKey } from "./keys.js";
import { challengePayload, type ChallengeKind } from "./signed-payloads.js";
import type { DeviceStorage, StoredAccount } from "./storage.js";

/**
 * The device account: an Ed25519 key made on the device, registered and signed in
 * by challenge-response. The SDK signs a challenge only if the server's payload is
 * byte for byte the documented one, so a server cannot make the key sign anything else.
 */

async function signedChallenge(
  api: GatewayApi,
  purpose: ChallengeKind,
  secretKey: Uint8Array,
  subject: { publicKey?: Uint8Array; accountId?: string },
): Promise<{ nonce: Uint8Array; signature: Uint8Array }> {
  const { nonce, payload } = await api.identity.createChallenge({ purpose, ...subject });
  const expected = challengePayload(purpose, nonce, subject.accountId ?? subject.publicKey ?? new Uint8Array());
  if (payload.length !== expected.length || payload.some((byte, i) => byte !== expected[i])) {
    throw new ConnectError("the server asked to sign something other than a challenge; refused", Code.Internal);
  }
  return { nonce, signature: signWithAccountKey(secretKey, payload) };
}

/**
 * Makes an account key, registers it and stores it; the caller then signs in. `retry` repeats the
 * network steps with the same key: a Register whose answer was lost answers the same account again.
 */
export async function registerAccount(
  api: GatewayApi,
  storage: DeviceStorage,
  retry: <T>(call: () => Promise<T>) => Promise<T> = (call) => call(),
): Promise<StoredAccount> {
  if ((await storage.read()).account) throw new ConnectError("this device already has an account", Code.AlreadyExists);
  const key = generateAccountKeyPair();
  const { account } = await retry(async () => {
    const { nonce, signature } = await signedChallenge(api, ChallengePurpose.REGISTER, key.secretKey, {
      publicKey: key.publicKey,
    });
    return api.identity.register({ publicKey: key.publicKey, nonce, signature });
  });
  if (!account) throw new ConnectError("Register returned no account", Code.Internal);
  const stored = { accountId: account.accountId, secretKey: toBase64(key.secretKey) };
  await storage.update((state) => {
    state.account = stored;
  });
  return stored;
}

/** A new session for the stored account. */
export async function signInAccount(
  api: GatewayApi,
  account: StoredAccount,
): Promise<{ token: string; expiresAt: string }> {
  const secretKey = importAccountKeyPair(fromBase64(account.secretKey)).secretKey;
  const { nonce, signature } = await signedChallenge(api, ChallengePurpose.SIGN_IN, secretKey, {
    accountId: account.accountId,
  });
  const { sessionToken, expireTime } = await api.identity.signIn({ accountId: account.accountId, nonce, signature });
  return { token: sessionToken, expiresAt: (expireTime ? timestampDate(expireTime) : new Date(0)).toISOString() };
}
