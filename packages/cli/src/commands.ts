import { renderQrText, type SeeMeClient } from "@seeme/client";
import { MOVEMENT_NAMES, STATUS_NAMES, describeConnection, describeMessage, printable, short } from "./format.js";

/** One CLI command: positional arguments and --flags, already split by main.ts. */
export interface Invocation {
  device: SeeMeClient;
  args: string[];
  flags: Map<string, string>;
  print: (line: string) => void;
}

export class UsageError extends Error {}

function showCode(print: Invocation["print"], qr: string, caption: string): void {
  print(renderQrText(qr));
  print(caption);
  print(qr);
}

async function labeller(device: SeeMeClient): Promise<(connection: string) => string> {
  const labels = new Map((await device.connections()).map((c) => [c.connection, c.label]));
  return (connection) => printable(labels.get(connection) ?? short(connection));
}

function printMessages(invocation: Invocation, label: (connection: string) => string): () => void {
  const offs = [
    invocation.device.events.on("message", (message) => invocation.print(describeMessage(message, label))),
    invocation.device.events.on("rejected", (event) => invocation.print(`rejected packet #${event.packetId}: ${event.reason}`)),
    invocation.device.events.on("dropped", (event) => invocation.print(`dropped a location from ${label(event.connection)}: my sharing is off`)),
  ];
  return () => offs.forEach((off) => off());
}

export const commands: Record<string, { usage: string; run: (invocation: Invocation) => Promise<void> }> = {
  init: {
    usage: "init                          create this device's account",
    async run({ device, print }) {
      print(`account ${await device.register()} created`);
    },
  },
  qr: {
    usage: "qr [--name NAME]              show my code for a new connection",
    async run({ device, flags, print }) {
      const { qr } = await device.createOffer(flags.get("name") ?? "peer");
      showCode(print, qr, "Show this code to the other device; then paste their code with `see-me accept <code>`:");
    },
  },
  accept: {
    usage: "accept <code> [--name NAME]   scan a pasted code (theirs, or their invite)",
    async run({ device, args, flags, print }) {
      if (!args[0]) throw new UsageError("accept needs the pasted code");
      const result = await device.scan(args[0], flags.get("name") ?? "peer");
      if (result.step === "answered") showCode(print, result.qr, "Show them this code; then paste the invite they show with `see-me accept <invite>`:");
      if (result.step === "invited") showCode(print, result.qr, "The server signed the invite. Show them this invite code:");
      if (result.step === "confirmed") print(`connected: ${describeConnection(result.connection)}`);
    },
  },
  list: {
    usage: "list                          list my connections",
    async run({ device, print }) {
      await device.sync();
      const connections = await device.connections();
      if (connections.length === 0) print("no connections yet (see-me qr)");
      for (const connection of connections) print(describeConnection(connection));
    },
  },
  send: {
    usage: "send location <lat> <lon> [--speed KMH] [--movement walking] | send status <name> | send text <words...> [--reply-to ID]  [--to CONNECTION]",
    async run({ device, args, flags, print }) {
      const [what, ...rest] = args;
      const to = flags.get("to");
      let report;
      if (what === "location") {
        const [latitude, longitude] = rest.map(Number);
        const movement = MOVEMENT_NAMES.get(flags.get("movement") ?? "stationary");
        if (!Number.isFinite(latitude) || !Number.isFinite(longitude) || movement === undefined) throw new UsageError("send location <lat> <lon> [--speed KMH] [--movement walking]");
        report = await device.sendLocation({ latitude, longitude, movement, speedKmh: Number(flags.get("speed") ?? 0) }, { to });
      } else if (what === "status") {
        const status = STATUS_NAMES.get(rest[0] ?? "");
        if (status === undefined) throw new UsageError(`send status <name>, one of: ${[...STATUS_NAMES.keys()].join(", ")}`);
        report = await device.sendStatus(status, { to });
      } else if (what === "text") {
        const replyTo = flags.get("reply-to");
        report = await device.sendText(rest.join(" "), { to, parentPacketId: replyTo === undefined ? undefined : Number(replyTo) });
      } else {
        throw new UsageError(commands.send.usage);
      }
      const verb = report.syncError ? "queued for" : "sent to";
      for (const sent of report.sent) print(`${verb} ${sent.label} (${short(sent.connection)}): packet ${sent.packetIds.join(", ")}`);
      for (const withheld of report.withheld) print(`not sent to ${withheld.label}: their location sharing is off`);
      for (const failed of report.failed) print(`NOT sent to ${failed.label} (${short(failed.connection)}): ${failed.message}`);
      if (report.syncError) print(`queued, will be sent on next sync (this sync failed: ${report.syncError.message})`);
    },
  },
  sharing: {
    usage: "sharing on|off                turn my location sharing on or off",
    async run({ device, args, print }) {
      if (args[0] !== "on" && args[0] !== "off") throw new UsageError("sharing on|off");
      const report = await device.setSharing(args[0] === "on");
      print(`location sharing is ${args[0]}`);
      if (report.syncError) print(`telling my connections is queued, will be sent on next sync (this sync failed: ${report.syncError.message})`);
    },
  },
  sync: {
    usage: "sync                          send what is queued and show what arrived",
    async run(invocation) {
      const off = printMessages(invocation, await labeller(invocation.device));
      const report = await invocation.device.sync();
      off();
      invocation.print(`synced: ${report.sent} sent, ${report.received} received`);
    },
  },
  inbox: {
    usage: "inbox                         show every message received",
    async run({ device, print }) {
      const label = await labeller(device);
      for (const message of await device.inbox()) print(describeMessage(message, label));
    },
  },
  watch: {
    usage: "watch                         show incoming messages live (Ctrl-C stops)",
    async run(invocation) {
      printMessages(invocation, await labeller(invocation.device));
      invocation.device.events.on("live", (up) => invocation.print(up ? "live: connected" : "live: reconnecting…"));
      const live = await invocation.device.startLive();
      await new Promise<void>((resolve) => process.once("SIGINT", resolve));
      await live.stop();
    },
  },
  break: {
    usage: "break <connection>            break a connection (my pairID, its prefix, or its name)",
    async run({ device, args, print }) {
      if (!args[0]) throw new UsageError("break <connection>");
      const result = await device.breakConnection(args[0]);
      const name = `${result.label} (${short(result.connection)})`;
      print(result.alreadyEnded ? `connection ${name} was already ${result.alreadyEnded}; nothing to do` : `connection ${name} broken`);
    },
  },
};
