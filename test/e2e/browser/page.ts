/**
 * The page the headless-browser test loads: a see-me device in the browser
 * (in-memory storage, gRPC-web or Connect over fetch), driven from the test
 * through `window.seeme`.
 */
import { MemoryStorage, Movement, SeeMeClient, type GatewayProtocol, type InboxMessage } from "@seeme/client";

let device: SeeMeClient | undefined;
const current = (): SeeMeClient => {
  if (!device) throw new Error("call seeme.start first");
  return device;
};

const api = {
  async start(gatewayUrl: string, protocol: GatewayProtocol): Promise<string> {
    device = new SeeMeClient({ storage: new MemoryStorage(), gatewayUrl, protocol, retry: { baseDelayMs: 50 } });
    return device.register();
  },
  async answer(code: string): Promise<{ connection: string; qr: string }> {
    return current().answerOffer(code, "node");
  },
  async confirm(invite: string): Promise<string> {
    return (await current().confirm(invite)).status;
  },
  /** Syncs until a location arrives (or ~10 s pass). */
  async nextLocation(): Promise<InboxMessage | undefined> {
    for (let i = 0; i < 100; i++) {
      await current().sync();
      const found = (await current().inbox()).find((m) => m.kind === "location");
      if (found) return found;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return undefined;
  },
  async sendLocation(latitude: number, longitude: number): Promise<number[]> {
    const report = await current().sendLocation({ movement: Movement.Walking, latitude, longitude, speedKmh: 3.5 });
    return report.sent.flatMap((sent) => sent.packetIds);
  },
  userAgent: () => navigator.userAgent,
};

declare global {
  interface Window {
    seeme: typeof api;
  }
}

window.seeme = api;
document.title = "see-me ready";
