import type { MessageInitShape } from "@bufbuild/protobuf";
import type { GetServerInfoResponseSchema } from "@seeme/contracts/gateway";
import type { GatewayContext } from "../context.js";

const SEVEN_DAYS_SECONDS = 7n * 24n * 3600n;

/** Limits a client must respect, so it can size batches and packets before sending. */
export function getServerInfo(context: GatewayContext): MessageInitShape<typeof GetServerInfoResponseSchema> {
  const { config } = context;
  return {
    apiVersion: "v1",
    maxBlobBytes: config.maxBlobBytes,
    maxPacketsPerSync: config.maxPacketsPerSync,
    maxPacketLife: { seconds: SEVEN_DAYS_SECONDS },
    inviteLife: { seconds: BigInt(Math.floor(config.inviteTtlMs / 1000)) },
  };
}
