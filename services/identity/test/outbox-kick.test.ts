import { pino } from "pino";
import { events } from "@seeme/contracts/subjects";
import { connectEventBus, type ConsumerHandle, type EventBus } from "@seeme/runtime/nats";
import { registerAndSignIn, rotateAccountKey } from "@seeme/testkit/accounts";
import { collector } from "@seeme/testkit/nats";
import { startHarness, type Harness } from "./harness.js";

// The outbox is polled once a minute here, so an event that reaches NATS within seconds got there
// because the call that recorded it kicked the relay: a key rotation (gateways end the account's
// sessions on it) and an account deletion.
let h: Harness;
let bus: EventBus;
const consumers: ConsumerHandle[] = [];
const deleted = collector<string>();
const rotated = collector<string>();

beforeAll(async () => {
  h = await startHarness("identity-outbox-kick", { OUTBOX_POLL_INTERVAL: "1m" });
  bus = await connectEventBus({
    url: h.testBus.url,
    prefix: h.testBus.prefix,
    name: "outbox-kick-test",
    log: pino({ level: "silent" }),
  });
  consumers.push(
    await bus.consume(events.accountDeleted, { durable: "kick-test", handler: (m) => deleted.push(m.accountId) }),
    await bus.consume(events.accountKeyRotated, { durable: "kick-test", handler: (m) => rotated.push(m.accountId) }),
  );
});

afterAll(async () => {
  await bus.drain();
  await h.stop();
});

test("a key rotation publishes account.key_rotated at once, not at the next outbox poll", async () => {
  const account = await registerAndSignIn(h.publicClient());
  await rotateAccountKey(h.callerClient(account.accountId), account);
  expect(await rotated.take(1, 5000)).toEqual([account.accountId]);
});

test("an account deletion publishes account.deleted at once, not at the next outbox poll", async () => {
  const account = await registerAndSignIn(h.publicClient());
  await h.callerClient(account.accountId).deleteAccount({});
  expect(await deleted.take(1, 5000)).toEqual([account.accountId]);
});
