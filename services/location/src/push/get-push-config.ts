import type { MessageInitShape } from "@bufbuild/protobuf";
import type { GetPushConfigResponseSchema } from "@seeme/contracts/location";
import type { LocationContext } from "../context.js";

/** GetPushConfig: the VAPID public key browsers subscribe with (empty when push is off). */
export function getPushConfig(ctx: LocationContext) {
  return (): MessageInitShape<typeof GetPushConfigResponseSchema> => ({
    vapidPublicKey: ctx.config.push?.vapidPublicKey ?? "",
  });
}
