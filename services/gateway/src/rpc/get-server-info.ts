import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import type { ConnectionInternalService } from "@seeme/contracts/connection";
import type { GetServerInfoResponseSchema } from "@seeme/contracts/gateway";
import type { GatewayContext } from "../context.js";

const SEVEN_DAYS_SECONDS = 7n * 24n * 3600n;
// The key changes only when an operator replaces SERVER_SIGNING_KEY and restarts
// connection; a few minutes of a stale copy then costs a client one retry.
const KEY_CACHE_MS = 5 * 60 * 1000;

/**
 * The invite signing public key, asked of the connection service once and
 * cached. If it cannot be asked, GetServerInfo still answers (the limits do
 * not depend on it) with the key empty, and the next call asks again.
 */
export function inviteKeySource(
  connections: Pick<Client<typeof ConnectionInternalService>, "getInviteSigningKey">,
  log: GatewayContext["log"],
) {
  let cached: { key: Uint8Array; until: number } | undefined;
  return async (): Promise<Uint8Array> => {
    if (cached && cached.until > Date.now()) return cached.key;
    try {
      const { publicKey } = await connections.getInviteSigningKey({}, { timeoutMs: 2000 });
      cached = { key: publicKey, until: Date.now() + KEY_CACHE_MS };
      return publicKey;
    } catch (err) {
      log.warn({ err: err instanceof Error ? err.message : String(err) }, "invite signing key not available");
      return new Uint8Array(0);
    }
  };
}

/** Limits a client must respect, so it can size batches and packets before sending, and the invite signing key. */
export async function getServerInfo(
  context: GatewayContext,
  inviteKey: () => Promise<Uint8Array>,
): Promise<MessageInitShape<typeof GetServerInfoResponseSchema>> {
  const { config } = context;
  return {
    apiVersion: "v1",
    maxBlobBytes: config.maxBlobBytes,
    maxPacketsPerSync: config.maxPacketsPerSync,
    maxPacketLife: { seconds: SEVEN_DAYS_SECONDS },
    inviteLife: { seconds: BigInt(Math.floor(config.inviteTtlMs / 1000)) },
    inviteSigningPublicKey: await inviteKey(),
  };
}
