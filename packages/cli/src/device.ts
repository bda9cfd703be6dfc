import { homedir } from "node:os";
import { join } from "node:path";
import { SeeMeClient } from "@seeme/client";
import { FileStorage } from "@seeme/client/file-storage";

export const DEFAULT_GATEWAY = "http://127.0.0.1:8080";

export interface DeviceOptions {
  /** Where the device keeps its state (`state.json`). */
  home: string;
  gateway: string;
}

export function defaultHome(): string {
  return join(homedir(), ".see-me");
}

export function openDevice(options: DeviceOptions): SeeMeClient {
  return new SeeMeClient({ storage: FileStorage.inHome(options.home), gatewayUrl: options.gateway });
}
