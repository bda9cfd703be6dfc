import { bindTo, recipientProof } from "@seeme/testkit/pairing";
import { eventWatcher, newPairId, registerAccount, startSuite, testClock, type Account } from "./helpers.js";

// The outbox is polled once a minute here, so an event that reaches NATS within seconds got there
// because the call that recorded it kicked the relay (ctx.publishEvents): a confirm, a break, and an
// initiate that replaced an expired invite. The other suites poll every 50 ms and cannot tell.
const clock = testClock();
let suite: Awaited<ReturnType<typeof startSuite>>;
let watcher: Awaited<ReturnType<typeof eventWatcher>>;

beforeAll(async () => {
  suite = await startSuite("outbox_kick", { now: clock.now }, { OUTBOX_POLL_INTERVAL: "1m" });
  watcher = await eventWatcher(suite.bus, "outbox-kick-test");
});

afterAll(async () => {
  await watcher.close();
  await suite.stop();
});

const client = (account: Account) => suite.client(account);

async function initiate(a: Account, sender: string, recipient: string) {
  return client(a).initiateConnection({
    senderPairId: sender,
    recipientPairId: recipient,
    accountSignature: a.signInitiate(sender, recipient),
    ...bindTo(recipient),
  });
}

/** A pairs with B: A's invite of {sender, recipient}, confirmed by B. */
async function pair() {
  const a = registerAccount(suite.identity);
  const b = registerAccount(suite.identity);
  const [sender, recipient] = [newPairId(), newPairId()];
  const { serverSignature } = await initiate(a, sender, recipient);
  await client(b).confirmConnection({
    senderPairId: sender,
    recipientPairId: recipient,
    serverSignature,
    ...recipientProof(sender, recipient),
  });
  return { b, sender, recipient };
}

test("a confirm publishes connection.confirmed at once, not at the next outbox poll", async () => {
  const { sender, recipient } = await pair();
  const [confirmed] = await watcher.confirmed.take(1, 5000);
  expect(confirmed).toMatchObject({ initiatorPairId: sender, recipientPairId: recipient });
});

test("a break publishes connection.broken at once: the peer's device hears of it now, not in a minute", async () => {
  const { b, sender, recipient } = await pair();
  await client(b).breakConnection({ pairId: recipient });
  const [broken] = await watcher.broken.take(1, 5000);
  expect(broken).toMatchObject({ by: b.id, pairIds: [sender, recipient] });
});

test("an initiate that replaces an invite at its expiry time publishes invite.expired at once", async () => {
  const a = registerAccount(suite.identity);
  const [sender, recipient] = [newPairId(), newPairId()];
  await initiate(a, sender, recipient);
  // Exactly at its expiry time, the invite is expired (the clock is frozen: no time passes between calls).
  clock.advance(suite.config.inviteTtlMs);
  // The sweeper (hourly here) has not run: the new initiate expires the old invite itself.
  await initiate(a, sender, recipient);
  const [expired] = await watcher.expired.take(1, 5000);
  expect(expired).toMatchObject({ sender, recipient });
});
