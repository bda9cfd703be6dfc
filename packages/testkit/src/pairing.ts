import { randomInt } from "node:crypto";
import type { CallOptions, Client } from "@connectrpc/connect";
import type { ConnectionService } from "@seeme/contracts/connection";
import { initiatePayload, PAIR_ID_LENGTH } from "@seeme/contracts/protocol";
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

const bearer = (token: string): CallOptions => ({ headers: { authorization: `Bearer ${token}` } });

/**
 * Connects two accounts through the public ConnectionService the way two
 * devices do after scanning each other's QR codes (SPEC §3): the initiator
 * signs and sends the initiate packet, the recipient confirms with the
 * server's signature. `client` may point at the gateway or the service.
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
    },
    bearer(initiator.sessionToken),
  );
  await client.confirmConnection({ senderPairId, recipientPairId, serverSignature }, bearer(recipient.sessionToken));
  return pairIds;
}
