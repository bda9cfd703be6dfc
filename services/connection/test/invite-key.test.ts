import { createClient } from "@connectrpc/connect";
import { bindTo } from "@seeme/testkit/pairing";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ed25519 } from "@noble/curves/ed25519.js";
import { ConnectionService } from "@seeme/contracts/connection";
import { GatewayService } from "@seeme/contracts/gateway";
import { IdentityService } from "@seeme/contracts/identity";
import { registerAndSignIn, signPayload } from "@seeme/testkit/accounts";
import { startStack, type Stack } from "../../../test/stack.js";
import { initiatePayload, invitePayload } from "@seeme/contracts/protocol";
import { newPairId } from "./helpers.js";

/** GetServerInfo publishes the invite signing key: a client verifies an invite without asking the server. */
let stack: Stack;

beforeAll(async () => {
  stack = await startStack("connection-invite-key");
}, 30_000);
afterAll(() => stack?.stop());

it("an invite's server_signature verifies with the key GetServerInfo publishes, and a forged one does not", async () => {
  const transport = createGrpcTransport({ baseUrl: stack.gatewayUrl });
  const info = await createClient(GatewayService, transport).getServerInfo({});
  expect(info.inviteSigningPublicKey).toHaveLength(32);

  const account = await registerAndSignIn(createClient(IdentityService, transport));
  const [sender, recipient] = [newPairId(), newPairId()];
  const { serverSignature } = await createClient(ConnectionService, transport).initiateConnection(
    {
      senderPairId: sender,
      recipientPairId: recipient,
      accountSignature: signPayload(account.privateKey, initiatePayload(sender, recipient)),
      ...bindTo(recipient),
    },
    { headers: { authorization: `Bearer ${account.sessionToken}` } },
  );

  const key = bindTo(recipient).recipientSigningPublicKey;
  expect(ed25519.verify(serverSignature, invitePayload(sender, recipient, key), info.inviteSigningPublicKey)).toBe(
    true,
  );
  expect(ed25519.verify(serverSignature, invitePayload(recipient, sender, key), info.inviteSigningPublicKey)).toBe(
    false,
  );
  const forged = ed25519.sign(invitePayload(sender, recipient, key), ed25519.utils.randomSecretKey());
  expect(ed25519.verify(forged, invitePayload(sender, recipient, key), info.inviteSigningPublicKey)).toBe(false);
});
