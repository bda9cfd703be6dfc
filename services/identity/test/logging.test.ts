import { Writable } from "node:stream";
import { pino } from "pino";
import { ChallengePurpose } from "@seeme/contracts/identity";
import {
  generateAccountKey,
  registerAccount,
  requestChallenge,
  rotateAccountKey,
  signIn,
  signPayload,
} from "@seeme/testkit/accounts";
import { waitFor } from "@seeme/testkit/health";
import { startHarness, type Harness } from "./harness.js";

const lines: string[] = [];
let h: Harness;

beforeAll(async () => {
  // No redaction configured: the service must not hand secrets to the logger at all.
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  h = await startHarness("identity-logging", {}, { log: pino({ level: "trace" }, sink) });
});

afterAll(() => h.stop());

/** Every way a byte string commonly shows up in a log line. */
function renderings(bytes: Uint8Array): string[] {
  const buffer = Buffer.from(bytes);
  return [
    buffer.toString("hex"),
    buffer.toString("base64"),
    buffer.toString("base64url"),
    Array.from(bytes.subarray(0, 8)).join(","),
  ];
}

test("a full account flow logs no token, nonce, signature or key", async () => {
  const secrets: string[] = [];
  const keep = (...values: Array<Uint8Array | string>) => {
    for (const value of values) secrets.push(...(typeof value === "string" ? [value] : renderings(value)));
  };
  const client = h.publicClient();

  const account = await registerAccount(client);
  keep(account.publicKey, account.privateKey);
  const { nonce, payload } = await requestChallenge(client, {
    purpose: ChallengePurpose.SIGN_IN,
    accountId: account.accountId,
  });
  const signature = signPayload(account.privateKey, payload);
  keep(nonce, signature);
  const bad = new Uint8Array(signature);
  bad[0] ^= 1;
  keep(bad);
  await expect(client.signIn({ accountId: account.accountId, nonce, signature: bad })).rejects.toThrow();
  const { sessionToken } = await client.signIn({ accountId: account.accountId, nonce, signature });
  keep(sessionToken);
  await expect(client.signIn({ accountId: account.accountId, nonce, signature })).rejects.toThrow();

  const internal = h.internalClient();
  await internal.verifySession({ sessionToken });
  // A changed signature byte (not the last character: its low bits are padding).
  const at = sessionToken.length - 10;
  const tampered = `${sessionToken.slice(0, at)}${sessionToken[at] === "A" ? "B" : "A"}${sessionToken.slice(at + 1)}`;
  await expect(internal.verifySession({ sessionToken: tampered })).rejects.toThrow();
  const signed = new TextEncoder().encode("invite");
  const inviteSignature = signPayload(account.privateKey, signed);
  keep(inviteSignature);
  await internal.verifySignature({ accountId: account.accountId, payload: signed, signature: inviteSignature });

  const asCaller = h.callerClient(account.accountId);
  await asCaller.getAccount({});
  const newKey = await rotateAccountKey(asCaller, account, generateAccountKey());
  keep(newKey.publicKey, newKey.privateKey);
  const second = await signIn(client, { accountId: account.accountId, privateKey: newKey.privateKey });
  keep(second);
  await asCaller.deleteAccount({});
  await expect(client.register({ publicKey: new Uint8Array(31), nonce, signature })).rejects.toThrow();
  await waitFor(async () => (await h.db.outboxEvent.count({ where: { publishedAt: null } })) === 0);

  const log = lines.join("");
  expect(log).toContain("account registered");
  expect(log).toContain("account deleted");
  expect(log).toContain(account.accountId);
  for (const secret of secrets) expect(log).not.toContain(secret);
});

/** The service's log lines so far, parsed (pino writes one JSON object per line). */
const records = () =>
  lines
    .join("")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);

test("each account event is logged once, with its account id; a failed relay revocation with its code", async () => {
  // Operators follow an account's life in these lines (and nothing else: see the test above).
  const client = h.publicClient();
  const account = await registerAccount(client);
  // Registering the same key again answers the same account and is not a new registration.
  await registerAccount(client, account);
  await signIn(client, account);
  const asCaller = h.callerClient(account.accountId);
  await rotateAccountKey(asCaller, account, generateAccountKey());
  h.location.state.fail = true;
  try {
    await expect(asCaller.deleteAccount({})).rejects.toThrow();
  } finally {
    h.location.state.fail = false;
  }
  await asCaller.deleteAccount({});

  const mine = records().filter((r) => r.accountId === account.accountId);
  expect(mine.map((r) => r.msg)).toEqual([
    "account registered",
    "session started",
    "account key rotated, sessions ended",
    "account deleted",
  ]);
  const failed = records().filter((r) => r.msg === "location RevokeAccount failed");
  expect(failed).toEqual([expect.objectContaining({ level: 40, code: "Internal" })]);
});
