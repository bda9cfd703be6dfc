import { randomBytes } from "node:crypto";
import { Code, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import pg from "pg";
import { pino } from "pino";
import { ChallengePurpose, IdentityService } from "@seeme/contracts/identity";
import { events } from "@seeme/contracts/subjects";
import { parseDatabaseUrl } from "@seeme/runtime/db";
import { connectEventBus, type EventBus } from "@seeme/runtime/nats";
import {
  generateAccountKey,
  registerAccount,
  registerAndSignIn,
  requestChallenge,
  rotateAccountKey,
  signIn,
  signPayload,
} from "@seeme/testkit/accounts";
import { collector } from "@seeme/testkit/nats";
import { waitFor } from "@seeme/testkit/wait";
import { startStack, type Stack } from "../../../test/stack.js";

/**
 * The "must show" through the real gateway (Connect and gRPC), as a
 * device sees it: bearer tokens in, status codes out.
 */
let stack: Stack;
let pool: pg.Pool;
let schema: string;
let bus: EventBus;
let identity: Client<typeof IdentityService>;
let offsetMs = 0;
const deleted = collector<string>();

const auth = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

beforeAll(async () => {
  // Every call comes from 127.0.0.1: lift the per-address budget so only behaviour is tested here.
  stack = await startStack("identity-e2e", {
    now: () => new Date(Date.now() + offsetMs),
    env: { IDENTITY_RATE_LIMIT_ADDRESS_BURST: "1000" },
  });
  const target = parseDatabaseUrl(stack.databaseUrls.identity);
  schema = target.schema;
  pool = new pg.Pool({ connectionString: target.connectionString, max: 2 });
  identity = createClient(IdentityService, createGrpcTransport({ baseUrl: stack.gatewayUrl }));
  bus = await connectEventBus({
    url: stack.natsUrl,
    prefix: stack.natsPrefix,
    name: "identity-e2e",
    log: pino({ level: "silent" }),
  });
  await bus.consume(events.accountDeleted, { durable: "identity-e2e", handler: (m) => deleted.push(m.accountId) });
});

afterAll(async () => {
  await bus.drain();
  await pool.end();
  await stack.stop();
});

async function counts(): Promise<Record<string, number>> {
  const result: Record<string, number> = {};
  for (const table of ["Account", "Challenge", "OutboxEvent"]) {
    result[table] = Number((await pool.query(`SELECT count(*) AS n FROM "${schema}"."${table}"`)).rows[0].n);
  }
  return result;
}

async function unauthenticatedWithoutChange(fn: () => Promise<unknown>): Promise<void> {
  const before = await counts();
  await expect(fn()).rejects.toMatchObject({ code: Code.Unauthenticated });
  expect(await counts()).toEqual(before);
}

test("register, challenge, sign in, then an authenticated call succeeds (Connect protocol too)", async () => {
  const account = await registerAndSignIn(identity);
  const { account: me } = await identity.getAccount({}, auth(account.sessionToken));
  expect(me!.accountId).toBe(account.accountId);
  expect(me!.publicKey).toEqual(account.publicKey);
  await expect(identity.getAccount({})).rejects.toMatchObject({ code: Code.Unauthenticated });

  const web = createClient(IdentityService, createConnectTransport({ baseUrl: stack.gatewayUrl, httpVersion: "1.1" }));
  const other = await registerAndSignIn(web);
  expect((await web.getAccount({}, auth(other.sessionToken))).account!.accountId).toBe(other.accountId);
});

test("wrong key, reused nonce, expired nonce, tampered signature: Unauthenticated and nothing stored", async () => {
  const account = await registerAccount(identity);
  const challenge = () =>
    requestChallenge(identity, { purpose: ChallengePurpose.SIGN_IN, accountId: account.accountId });

  const wrongKey = await challenge();
  await unauthenticatedWithoutChange(() =>
    identity.signIn({
      accountId: account.accountId,
      nonce: wrongKey.nonce,
      signature: signPayload(generateAccountKey().privateKey, wrongKey.payload),
    }),
  );

  const tampered = await challenge();
  const signature = signPayload(account.privateKey, tampered.payload);
  signature[10] ^= 0x40;
  await unauthenticatedWithoutChange(() =>
    identity.signIn({ accountId: account.accountId, nonce: tampered.nonce, signature }),
  );

  const used = await challenge();
  const request = {
    accountId: account.accountId,
    nonce: used.nonce,
    signature: signPayload(account.privateKey, used.payload),
  };
  await identity.signIn(request);
  await unauthenticatedWithoutChange(() => identity.signIn(request));

  const late = await challenge();
  offsetMs += 5 * 60_000 + 1_000;
  await unauthenticatedWithoutChange(() =>
    identity.signIn({
      accountId: account.accountId,
      nonce: late.nonce,
      signature: signPayload(account.privateKey, late.payload),
    }),
  );
});

test("expired and unknown tokens are refused", async () => {
  const account = await registerAndSignIn(identity);
  offsetMs += 24 * 3_600_000 + 1_000;
  await unauthenticatedWithoutChange(() => identity.getAccount({}, auth(account.sessionToken)));
  await unauthenticatedWithoutChange(() => identity.getAccount({}, auth(randomBytes(32).toString("base64url"))));
  await unauthenticatedWithoutChange(() => identity.getAccount({}, auth("not-a-session-token-at-all")));
});

test("deleting an account ends its sessions at once and one deletion event reaches a subscriber", async () => {
  const account = await registerAndSignIn(identity);
  const unused = await signIn(identity, account);
  await identity.deleteAccount({}, auth(account.sessionToken));

  // Refused at once: by the gateway once it heard the deletion event, and before that by identity (no account).
  await unauthenticatedWithoutChange(() => identity.getAccount({}, auth(unused)));
  await unauthenticatedWithoutChange(() => identity.getAccount({}, auth(account.sessionToken)));
  await unauthenticatedWithoutChange(() => identity.deleteAccount({}, auth(account.sessionToken)));

  const later = await registerAndSignIn(identity);
  await identity.deleteAccount({}, auth(later.sessionToken));
  expect(await deleted.take(2)).toEqual([account.accountId, later.accountId]);
});

test("after rotation the new key signs in; the old key and old sessions are refused", async () => {
  const account = await registerAndSignIn(identity);
  const unused = await signIn(identity, account);
  const newKey = await rotateAccountKey(identity, account, generateAccountKey(), auth(account.sessionToken));

  // The gateway verifies tokens itself and refuses old-key ones once it hears identity's rotation event.
  const refused = () =>
    identity.getAccount({}, auth(unused)).then(
      () => false,
      (error: { code?: Code }) => error.code === Code.Unauthenticated,
    );
  expect(await waitFor(refused, 1000, 10)).toBe(true);
  await unauthenticatedWithoutChange(() => identity.getAccount({}, auth(unused)));
  await expect(signIn(identity, account)).rejects.toMatchObject({ code: Code.Unauthenticated });
  const fresh = await signIn(identity, { accountId: account.accountId, privateKey: newKey.privateKey });
  expect((await identity.getAccount({}, auth(fresh))).account!.publicKey).toEqual(newKey.publicKey);
});
