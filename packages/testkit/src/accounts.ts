import type { CallOptions, Client } from "@connectrpc/connect";
import { ed25519 } from "@noble/curves/ed25519.js";
import { ChallengePurpose, type IdentityService } from "@seeme/contracts/identity";
import { challengePayload } from "@seeme/contracts/protocol";

/**
 * Drives the PUBLIC identity API the way a device does, so the same helpers work
 * against the identity service directly or through the gateway.
 */
export { challengePayload };

export interface AccountKey {
  /** 32-byte Ed25519 seed. */
  privateKey: Uint8Array;
  /** Raw 32-byte Ed25519 public key. */
  publicKey: Uint8Array;
}

export interface TestAccount extends AccountKey {
  accountId: string;
  sessionToken: string;
}

export function generateAccountKey(): AccountKey {
  const { secretKey, publicKey } = ed25519.keygen();
  return { privateKey: secretKey, publicKey };
}

export function signPayload(privateKey: Uint8Array, payload: Uint8Array): Uint8Array {
  return ed25519.sign(payload, privateKey);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/**
 * Asks for a challenge and returns the nonce and the payload to sign. Like a real
 * client, it builds the payload itself and refuses to sign anything else.
 */
export async function requestChallenge(
  client: Client<typeof IdentityService>,
  request: { purpose: ChallengePurpose; publicKey?: Uint8Array; accountId?: string },
  callOptions?: CallOptions,
): Promise<{ nonce: Uint8Array; payload: Uint8Array }> {
  const { nonce, payload } = await client.createChallenge(request, callOptions);
  const subject =
    request.purpose === ChallengePurpose.SIGN_IN ? (request.accountId ?? "") : (request.publicKey ?? new Uint8Array());
  const expected = challengePayload(request.purpose as Parameters<typeof challengePayload>[0], nonce, subject);
  if (!sameBytes(payload, expected)) throw new Error("server challenge payload differs from the documented format");
  return { nonce, payload };
}

export async function registerAccount(
  client: Client<typeof IdentityService>,
  key: AccountKey = generateAccountKey(),
  callOptions?: CallOptions,
): Promise<AccountKey & { accountId: string }> {
  const { nonce, payload } = await requestChallenge(
    client,
    { purpose: ChallengePurpose.REGISTER, publicKey: key.publicKey },
    callOptions,
  );
  const { account } = await client.register(
    { publicKey: key.publicKey, nonce, signature: signPayload(key.privateKey, payload) },
    callOptions,
  );
  if (!account) throw new Error("Register returned no account");
  return { ...key, accountId: account.accountId };
}

export async function signIn(
  client: Client<typeof IdentityService>,
  account: { accountId: string; privateKey: Uint8Array },
  callOptions?: CallOptions,
): Promise<string> {
  const { nonce, payload } = await requestChallenge(
    client,
    { purpose: ChallengePurpose.SIGN_IN, accountId: account.accountId },
    callOptions,
  );
  const response = await client.signIn(
    { accountId: account.accountId, nonce, signature: signPayload(account.privateKey, payload) },
    callOptions,
  );
  return response.sessionToken;
}

/** A fresh key, registered and signed in. */
export async function registerAndSignIn(
  client: Client<typeof IdentityService>,
  callOptions?: CallOptions,
): Promise<TestAccount> {
  const account = await registerAccount(client, generateAccountKey(), callOptions);
  return { ...account, sessionToken: await signIn(client, account, callOptions) };
}

/**
 * Replaces the signed-in account's key: both keys sign one rotate-key challenge.
 * `client` must carry the account's session (or, on the gateway, its bearer token).
 */
export async function rotateAccountKey(
  client: Client<typeof IdentityService>,
  oldKey: AccountKey,
  newKey: AccountKey = generateAccountKey(),
  callOptions?: CallOptions,
): Promise<AccountKey> {
  const { nonce, payload } = await requestChallenge(
    client,
    { purpose: ChallengePurpose.ROTATE_KEY, publicKey: newKey.publicKey },
    callOptions,
  );
  await client.rotateKey(
    {
      newPublicKey: newKey.publicKey,
      nonce,
      oldSignature: signPayload(oldKey.privateKey, payload),
      newSignature: signPayload(newKey.privateKey, payload),
    },
    callOptions,
  );
  return newKey;
}
