import { createHash, randomInt } from "node:crypto";
import type { CallOptions, Client } from "@connectrpc/connect";
import { ed25519 } from "@noble/curves/ed25519.js";
import type { ConnectionService } from "@seeme/contracts/connection";
import { confirmPayload, initiatePayload, PAIR_ID_LENGTH } from "@seeme/contracts/protocol";
import { signPayload } from "./accounts.js";

/** An account that can act on the public API: its key signs the initiate packet, its session authorizes calls. */
export interface PairingAccount {
  privateKey: Uint8Array;
  sessionToken: string;
}

export interface Pairing {
  /** Where the initiator receives (the recipient sends here). */
  initiatorPairId: string;
  /** Where the recipient receives (the initiator sends here). */
  recipientPairId: string;
}

const ALPHANUMERIC = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** A fresh random pairID, as a device would make one (SPEC §2). */
export function newPairId(): string {
  return Array.from({ length: PAIR_ID_LENGTH }, () => ALPHANUMERIC[randomInt(ALPHANUMERIC.length)]).join("");
}

/**
 * The recipient's connection signing key for a pair, derived from its pairID so
 * a test's initiate and confirm agree without carrying the key between them. A
 * device makes a random one and shows its public half in its code (SPEC §3);
 * tests about a bystander use their own random keys instead.
 */
function recipientKey(recipientPairId: string): { secretKey: Uint8Array; publicKey: Uint8Array } {
  const secretKey = new Uint8Array(createHash("sha256").update(`testkit/recipient-key\n${recipientPairId}`).digest());
  return { secretKey, publicKey: ed25519.getPublicKey(secretKey) };
}

/** The InitiateConnection field that binds the invite to the recipient (spread it into the request). */
export function bindTo(recipientPairId: string): { recipientSigningPublicKey: Uint8Array } {
  return { recipientSigningPublicKey: recipientKey(recipientPairId).publicKey };
}

/** The ConfirmConnection fields that prove the caller holds the key the invite is bound to (spread them in). */
export function recipientProof(
  senderPairId: string,
  recipientPairId: string,
): { recipientSigningPublicKey: Uint8Array; recipientSignature: Uint8Array } {
  const { secretKey, publicKey } = recipientKey(recipientPairId);
  return {
    recipientSigningPublicKey: publicKey,
    recipientSignature: ed25519.sign(confirmPayload(senderPairId, recipientPairId), secretKey),
  };
}

const bearer = (token: string): CallOptions => ({ headers: { authorization: `Bearer ${token}` } });

/**
 * Connects two accounts through the public ConnectionService the way two
 * devices do after scanning each other's QR codes (SPEC §3): the initiator
 * signs and sends the initiate packet bound to the recipient's key, the
 * recipient confirms with the server's signature and its own. `client` may point at the gateway or the service.
 */
export async function pairAccounts(
  client: Client<typeof ConnectionService>,
  initiator: PairingAccount,
  recipient: PairingAccount,
  pairIds: Pairing = { initiatorPairId: newPairId(), recipientPairId: newPairId() },
): Promise<Pairing> {
  const { initiatorPairId: senderPairId, recipientPairId } = pairIds;
  const { serverSignature } = await client.initiateConnection(
    {
      senderPairId,
      recipientPairId,
      accountSignature: signPayload(initiator.privateKey, initiatePayload(senderPairId, recipientPairId)),
      ...bindTo(recipientPairId),
    },
    bearer(initiator.sessionToken),
  );
  await client.confirmConnection(
    { senderPairId, recipientPairId, serverSignature, ...recipientProof(senderPairId, recipientPairId) },
    bearer(recipient.sessionToken),
  );
  return pairIds;
}
