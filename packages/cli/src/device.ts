import { SeeMeClient } from "@seeme/client";
import { FileStorage } from "@seeme/client/file-storage";

export interface DeviceOptions {
  /** Where the device keeps its state (`state.json`). */
  home: string;
  gateway: string;
}

export function openDevice(options: DeviceOptions): SeeMeClient {
  return new SeeMeClient({ storage: FileStorage.inHome(options.home), gatewayUrl: options.gateway });
}
