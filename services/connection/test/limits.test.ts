import { Code } from "@connectrpc/connect";
import { bindTo } from "@seeme/testkit/pairing";
import { clientAs, newPairId, registerAccount, startSuite, testClock, type Account } from "./helpers.js";

const clock = testClock();
let suite: Awaited<ReturnType<typeof startSuite>>;
const clients: Array<{ close(): void }> = [];

beforeAll(async () => {
  suite = await startSuite(
    "limits",
    { now: clock.now },
    { INITIATE_BURST: "5", INITIATE_PER_MINUTE: "1", MAX_PENDING_INVITES: "2" },
  );
});

afterAll(async () => {
  clients.forEach((c) => c.close());
  await suite.stop();
});

function initiate(account: Account, pair = { senderPairId: newPairId(), recipientPairId: newPairId() }) {
  const c = clientAs(suite.address, account.id);
  clients.push(c);
  return c.initiateConnection({
    ...pair,
    accountSignature: account.signInitiate(pair.senderPairId, pair.recipientPairId),
    ...bindTo(pair.recipientPairId),
  });
}

const invitesOf = async (account: Account) =>
  (await suite.tables.rows("invites")).filter((row) => row.initiator_account_id === account.id);

test("an account may hold MAX_PENDING_INVITES pending invites; one more is refused with ResourceExhausted and writes nothing", async () => {
  const a = registerAccount(suite.identity);
  const first = { senderPairId: newPairId(), recipientPairId: newPairId() };
  await initiate(a, first);
  await initiate(a);
  await expect(initiate(a)).rejects.toMatchObject({
    code: Code.ResourceExhausted,
    rawMessage: expect.stringMatching(/2 pending invites/),
  });
  expect(await invitesOf(a)).toHaveLength(2);
  // Repeating a held invite adds none, so it is still answered.
  await expect(initiate(a, first)).resolves.toMatchObject({ serverSignature: expect.any(Uint8Array) });

  // Expired invites no longer count.
  clock.advance(15 * 60_000);
  await initiate(a);
  expect((await invitesOf(a)).filter((row) => row.expires_at > clock.now())).toHaveLength(1);
});

test("initiates are rate limited per account (INITIATE_BURST, INITIATE_PER_MINUTE) with ResourceExhausted, writing nothing", async () => {
  const a = registerAccount(suite.identity);
  const b = registerAccount(suite.identity);
  const pair = { senderPairId: newPairId(), recipientPairId: newPairId() };
  for (let i = 0; i < 5; i++) await initiate(a, pair);
  await expect(initiate(a)).rejects.toMatchObject({
    code: Code.ResourceExhausted,
    // Says which limit, so the person knows what to wait for.
    rawMessage: "rate limit exceeded for connection invites by this account; retry later",
  });
  expect(await invitesOf(a)).toHaveLength(1);
  // Another account has its own budget.
  await expect(initiate(b)).resolves.toMatchObject({ serverSignature: expect.any(Uint8Array) });
});
