import { loadConfig as connectionConfig } from "@seeme/connection/config";
import { startConnectionService } from "@seeme/connection/service";
import { loadConfig as gatewayConfig } from "@seeme/gateway/config";
import { startGatewayService } from "@seeme/gateway/service";
import { loadConfig as identityConfig } from "@seeme/identity/config";
import { startIdentityService } from "@seeme/identity/service";
import { loadConfig as locationConfig } from "@seeme/location/config";
import { startLocationService } from "@seeme/location/service";
import { startStack as startStackWith, type Stack, type StackOptions, type StackServices } from "@seeme/testkit/stack";

export type { Stack };

/**
 * The real services for the testkit's in-process stack. This composition lives
 * here, above every service, so the testkit (which services' tests import)
 * imports no service itself.
 */
export const inProcessServices: StackServices = {
  identity: (env, options) => startIdentityService(identityConfig(env), options),
  connection: (env, options) => startConnectionService(connectionConfig(env), options),
  location: (env, options) => startLocationService(locationConfig(env), options),
  // Same clock as identity: the gateway checks the expiry of the tokens identity signs.
  gateway: (env, options) => startGatewayService(gatewayConfig(env), options),
};

/** The whole system in this process on free ports (see @seeme/testkit/stack). */
export function startStack(label: string, options: Omit<StackOptions, "services"> = {}): Promise<Stack> {
  return startStackWith(label, { ...options, services: inProcessServices });
}
