import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { newPairId } from "@seeme/client/pair-id";
import { initiatePayload } from "@seeme/client/signed-payloads";
import { ConnectionService } from "@seeme/contracts/connection";
import { IdentityService } from "@seeme/contracts/identity";
import { streamName } from "@seeme/contracts/subjects";
import { registerAndSignIn, signPayload } from "@seeme/testkit/accounts";
import { bindTo, pairAccounts } from "@seeme/testkit/pairing";
import { startStack, type Stack } from "../stack.js";
import { waitFor } from "@seeme/testkit/wait";
import { connect, type NatsConnection } from "nats";

/**
 * CONNECTION events link account ids to pairIDs. The outbox rows that carried
 * them are deleted once published; the copies in JetStream must go too once
 * every consumer (location's projection) has processed them, not a day later.
 */
describe("privacy at rest in NATS", () => {
  let stack: Stack;
  let nc: NatsConnection;
  let offsetMs = 0;

  beforeAll(async () => {
    stack = await startStack("nats_privacy", {
      now: () => new Date(Date.now() + offsetMs),
      env: { INVITE_TTL: "10s", INVITE_SWEEP_INTERVAL: "1s" },
    });
    nc = await connect({ servers: stack.natsUrl });
  });

  afterAll(async () => {
    await nc?.close();
    await stack?.stop();
  });

  const state = async () =>
    (await (await nc.jetstreamManager()).streams.info(streamName(stack.natsPrefix, "CONNECTION"))).state;

  it("keeps no connection.confirmed, connection.broken or invite.expired event once location has processed it", async () => {
    const transport = createConnectTransport({ baseUrl: stack.gatewayUrl, httpVersion: "1.1" });
    const identity = createClient(IdentityService, transport);
    const connections = createClient(ConnectionService, transport);
    const [a, b] = [await registerAndSignIn(identity), await registerAndSignIn(identity)];
    const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

    const pairing = await pairAccounts(connections, a, b);
    await connections.breakConnection({ pairId: pairing.initiatorPairId }, bearer(a.sessionToken));
    // An invite nobody confirms expires and is announced.
    const sender = newPairId();
    const recipient = newPairId();
    await connections.initiateConnection(
      {
        senderPairId: sender,
        recipientPairId: recipient,
        accountSignature: signPayload(a.privateKey, initiatePayload(sender, recipient)),
        ...bindTo(recipient),
      },
      bearer(a.sessionToken),
    );
    offsetMs += 60_000;

    // Three events were stored (confirmed, broken, expired)...
    expect(await waitFor(async () => (await state()).last_seq >= 3, 15_000)).toBe(true);
    // ...and none is kept once location acknowledged it.
    expect(await waitFor(async () => (await state()).messages === 0, 15_000)).toBe(true);
    const { messages, last_seq } = await state();
    expect({ messages, stored: last_seq >= 3 }).toEqual({ messages: 0, stored: true });
  });
});
