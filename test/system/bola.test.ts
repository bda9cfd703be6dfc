import { Code, ConnectError, createClient, type CallOptions } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { newPairId } from "@seeme/client/pair-id";
import { confirmPayload, initiatePayload } from "@seeme/client/signed-payloads";
import { ed25519 } from "@noble/curves/ed25519.js";
import { ConnectionService } from "@seeme/contracts/connection";
import { ChallengePurpose, IdentityService } from "@seeme/contracts/identity";
import { LocationService } from "@seeme/contracts/location";
import { registerAndSignIn, requestChallenge, signPayload, type TestAccount } from "@seeme/testkit/accounts";
import { pairAccounts, type Pairing } from "@seeme/testkit/pairing";
import { startStack, type Stack } from "../stack.js";

/**
 * Broken object-level authorization, as a matrix: every public RPC that takes
 * an identifier (pairID, packet id, account id, invite) is called by a
 * stranger with the identifiers of a real connection between A and B. Each is
 * refused with the documented code, and afterwards A and B find everything
 * as it was. (RPCs without identifiers act on the caller only: GetAccount,
 * RotateKey, DeleteAccount, ListConnections, Subscribe.)
 */
describe("a stranger cannot act on someone else's identifiers", () => {
  let stack: Stack;
  let a: TestAccount;
  let b: TestAccount;
  let stranger: TestAccount;
  let pairing: Pairing;
  let invite: { senderPairId: string; recipientPairId: string; serverSignature: Uint8Array };
  // The connection signing key in the code B showed A: the invite is bound to it.
  const bKey = ed25519.keygen();
  const transport = () => createConnectTransport({ baseUrl: stack.gatewayUrl, httpVersion: "1.1" });
  const as = (account: TestAccount): CallOptions => ({ headers: { authorization: `Bearer ${account.sessionToken}` } });
  const identity = () => createClient(IdentityService, transport());
  const connections = () => createClient(ConnectionService, transport());
  const location = () => createClient(LocationService, transport());

  beforeAll(async () => {
    stack = await startStack("bola");
    [a, b, stranger] = [
      await registerAndSignIn(identity()),
      await registerAndSignIn(identity()),
      await registerAndSignIn(identity()),
    ];
    pairing = await pairAccounts(connections(), a, b);
    // A's packet 1 waits in B's inbox; A holds a pending invite.
    await location().sync(
      { data: [{ pairId: pairing.recipientPairId, packetId: 1, blob: new Uint8Array([1, 2, 3]) }], skipIncoming: true },
      as(a),
    );
    const senderPairId = newPairId();
    const recipientPairId = newPairId();
    const { serverSignature } = await connections().initiateConnection(
      {
        senderPairId,
        recipientPairId,
        accountSignature: signPayload(a.privateKey, initiatePayload(senderPairId, recipientPairId)),
        recipientSigningPublicKey: bKey.publicKey,
      },
      as(a),
    );
    invite = { senderPairId, recipientPairId, serverSignature };
  });

  afterAll(() => stack?.stop());

  const refusal = (call: () => Promise<unknown>) =>
    call().then(
      () => "accepted",
      (error: unknown) => Code[ConnectError.from(error).code],
    );

  it.each([
    [
      "ConnectionService.BreakConnection, A's pairID",
      "NotFound",
      () => connections().breakConnection({ pairId: pairing.initiatorPairId }, as(stranger)),
    ],
    [
      "ConnectionService.BreakConnection, B's pairID",
      "NotFound",
      () => connections().breakConnection({ pairId: pairing.recipientPairId }, as(stranger)),
    ],
    [
      "ConnectionService.InitiateConnection, A's pairID as sender",
      "AlreadyExists",
      () => {
        const fresh = newPairId();
        return connections().initiateConnection(
          {
            senderPairId: pairing.initiatorPairId,
            recipientPairId: fresh,
            accountSignature: signPayload(stranger.privateKey, initiatePayload(pairing.initiatorPairId, fresh)),
            recipientSigningPublicKey: bKey.publicKey,
          },
          as(stranger),
        );
      },
    ],
    [
      "ConnectionService.InitiateConnection, the pending invite's pairIDs",
      "AlreadyExists",
      () =>
        connections().initiateConnection(
          {
            senderPairId: invite.senderPairId,
            recipientPairId: invite.recipientPairId,
            accountSignature: signPayload(
              stranger.privateKey,
              initiatePayload(invite.senderPairId, invite.recipientPairId),
            ),
            recipientSigningPublicKey: bKey.publicKey,
          },
          as(stranger),
        ),
    ],
    [
      "LocationService.Sync, sending into B's inbox",
      "PermissionDenied",
      () =>
        location().sync(
          { data: [{ pairId: pairing.recipientPairId, packetId: 7, blob: new Uint8Array([9]) }], skipIncoming: true },
          as(stranger),
        ),
    ],
    [
      "LocationService.Sync, sending into A's inbox",
      "PermissionDenied",
      () =>
        location().sync(
          { data: [{ pairId: pairing.initiatorPairId, packetId: 7, blob: new Uint8Array([9]) }], skipIncoming: true },
          as(stranger),
        ),
    ],
    [
      "LocationService.Sync, acknowledging A's packet id under B's pairID",
      "PermissionDenied",
      () =>
        location().sync(
          { lastPacketsReceived: [{ pairId: pairing.recipientPairId, packetIds: [1] }], skipIncoming: true },
          as(stranger),
        ),
    ],
    [
      "IdentityService.SignIn, A's account id with the stranger's signature",
      "Unauthenticated",
      async () => {
        const client = identity();
        const { nonce, payload } = await requestChallenge(client, {
          purpose: ChallengePurpose.SIGN_IN,
          accountId: a.accountId,
        });
        return client.signIn({ accountId: a.accountId, nonce, signature: signPayload(stranger.privateKey, payload) });
      },
    ],
  ])("%s → %s", async (_name, code, call) => {
    expect(await refusal(call as () => Promise<unknown>)).toBe(code);
  });

  it("left A's and B's connection and B's inbox as they were", async () => {
    const listed = (await connections().listConnections({}, as(a))).connections.map((c) => [c.pairId, c.peerPairId]);
    expect(listed).toEqual([[pairing.initiatorPairId, pairing.recipientPairId]]);
    expect((await connections().listConnections({}, as(stranger))).connections).toEqual([]);
    // B still gets A's packet 1 (not acknowledged away, nothing added by the stranger).
    const inbox = await location().sync({}, as(b));
    expect(
      inbox.data
        .filter((packet) => packet.pairId === pairing.recipientPairId)
        .map((packet) => [packet.packetId, [...packet.blob]]),
    ).toEqual([[1, [1, 2, 3]]]);
    expect(
      (await location().sync({}, as(a))).data.filter((packet) => packet.pairId === pairing.initiatorPairId),
    ).toEqual([]);
    // No session was started for A by the stranger's attempt: A's own sign-in still works and is A's.
    const { nonce, payload } = await requestChallenge(identity(), {
      purpose: ChallengePurpose.SIGN_IN,
      accountId: a.accountId,
    });
    expect(
      (await identity().signIn({ accountId: a.accountId, nonce, signature: signPayload(a.privateKey, payload) }))
        .accountId,
    ).toBe(a.accountId);
  });

  // Defect 7 (second half): an invite was a bearer token, so a bystander who photographed the
  // third QR code could confirm it in B's place. It is bound to B's key now.
  it("ConnectionService.ConfirmConnection of A's invite by a stranger → InvalidArgument bare, PermissionDenied signed; B still can", async () => {
    const { senderPairId, recipientPairId } = invite;
    const strangerKey = ed25519.keygen();
    // What the QR code shows, as it is: no key, no signature, so not even a confirm.
    expect(await refusal(() => connections().confirmConnection(invite, as(stranger)))).toBe("InvalidArgument");
    const attempts = [
      // With the stranger's own key and signature.
      {
        ...invite,
        recipientSigningPublicKey: strangerKey.publicKey,
        recipientSignature: ed25519.sign(confirmPayload(senderPairId, recipientPairId), strangerKey.secretKey),
      },
      // With B's public key (it was in B's code too) but no signature B made.
      {
        ...invite,
        recipientSigningPublicKey: bKey.publicKey,
        recipientSignature: ed25519.sign(confirmPayload(senderPairId, recipientPairId), strangerKey.secretKey),
      },
    ];
    for (const attempt of attempts)
      expect(await refusal(() => connections().confirmConnection(attempt, as(stranger)))).toBe("PermissionDenied");
    const confirmed = await connections().confirmConnection(
      {
        ...invite,
        recipientSigningPublicKey: bKey.publicKey,
        recipientSignature: ed25519.sign(confirmPayload(senderPairId, recipientPairId), bKey.secretKey),
      },
      as(b),
    );
    expect(confirmed.connection?.pairId).toBe(recipientPairId);
  });
});
