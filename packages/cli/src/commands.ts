import { Code, ConnectError } from "@connectrpc/connect";
import {
  renderQrText,
  type ConnectionView,
  type InboxMessage,
  type Movement,
  type SeeMeClient,
  type SendReport,
  type SimpleStatus,
} from "@seeme/client";
import { UsageError } from "./args.js";
import { CliError, describeFailure, isUnreachable, unreachable } from "./errors.js";
import {
  MOVEMENT_NAMES,
  STATUS_NAMES,
  alarmTitle,
  describeConnection,
  describeMessage,
  isAlarm,
  printable,
  short,
} from "./format.js";
import { nameList } from "./names.js";

/** One CLI command: its arguments and options, already parsed and checked against command-spec.ts. */
export interface Invocation {
  device: SeeMeClient;
  args: string[];
  flags: Map<string, string>;
  print: (line: string) => void;
  /** The gateway in use, for error messages. */
  gateway: string;
  home: string;
}

/** Runs a command; resolves with its exit status (0 when it returns nothing). */
type Run = (invocation: Invocation) => Promise<number | void>;

function showCode(print: Invocation["print"], qr: string, caption: string): void {
  print(renderQrText(qr));
  print(caption);
  print(qr);
}

async function labeller(device: SeeMeClient): Promise<(connection: string) => string> {
  const labels = new Map((await device.connections()).map((c) => [c.connection, c.label]));
  return (connection) => printable(labels.get(connection) ?? short(connection));
}

type Label = (connection: string) => string;

function printMessages(
  invocation: Invocation,
  label: Label,
  describe: (m: InboxMessage, label: Label) => string = describeMessage,
): () => void {
  const offs = [
    invocation.device.events.on("message", (message) => invocation.print(describe(message, label))),
    invocation.device.events.on("rejected", (event) =>
      invocation.print(`rejected packet #${event.packetId}: ${event.reason}`),
    ),
    invocation.device.events.on("dropped", (event) =>
      invocation.print(`dropped a location from ${label(event.connection)}: my sharing is off`),
    ),
  ];
  return () => offs.forEach((off) => off());
}

/** `alice (active), bob (broken)`, or how to make a first connection. */
function connectionNames(connections: ConnectionView[]): string {
  if (connections.length === 0) return "this device has no connections yet: make one with `see-me qr`";
  return `connections on this device: ${connections.map((c) => `${printable(c.label)} (${c.status})`).join(", ")}`;
}

/**
 * Checks --to (or that some connection is active) before anything is queued, so a
 * send that cannot go anywhere says why instead of printing nothing.
 */
async function checkTarget(device: SeeMeClient, to: string | undefined): Promise<void> {
  const connections = await device.connections();
  if (to === undefined) {
    if (connections.some((c) => c.status === "active")) return;
    throw new CliError(`no active connection to send to; ${connectionNames(connections)}`);
  }
  let target: ConnectionView;
  try {
    target = await device.connection(to);
  } catch (error) {
    const failure = ConnectError.from(error);
    if (failure.code !== Code.NotFound) throw new CliError(failure.rawMessage);
    throw new CliError(`no connection named "${printable(to)}"; ${connectionNames(connections)}`);
  }
  if (target.status !== "active") {
    throw new CliError(
      `no active connection named "${printable(to)}" (it is ${target.status}); ${connectionNames(connections)}`,
    );
  }
}

function number(text: string | undefined, what: string): number {
  const value = Number(text);
  if (text === undefined || text.trim() === "" || !Number.isFinite(value))
    throw new UsageError(`${what} must be a number, not "${text ?? ""}"`);
  return value;
}

function printReport(report: SendReport, gateway: string, print: Invocation["print"]): number {
  const verb = report.syncError ? "queued for" : "sent to";
  for (const sent of report.sent)
    print(`${verb} ${printable(sent.label)} (${short(sent.connection)}): packet ${sent.packetIds.join(", ")}`);
  for (const withheld of report.withheld)
    print(`not sent to ${printable(withheld.label)}: their location sharing is off`);
  for (const failed of report.failed)
    print(`NOT sent to ${printable(failed.label)} (${short(failed.connection)}): ${failed.message}`);
  if (report.syncError) print(`queued (will be sent on next sync): ${syncProblem(report.syncError, gateway)}`);
  // Nothing queued for anyone who should have had it: the person must know it did not go.
  return report.sent.length === 0 && report.failed.length > 0 ? 1 : 0;
}

function syncProblem(error: { code: Code; message: string }, gateway: string): string {
  const failure = new ConnectError(error.message, error.code);
  return isUnreachable(failure) ? unreachable(gateway, failure) : error.message;
}

/** What `send` was asked to send, checked before the device is opened. */
export type Outgoing =
  | { kind: "location"; latitude: number; longitude: number; speedKmh: number; movement: number }
  | { kind: "status"; status: number }
  | { kind: "text"; message: string; parentPacketId?: number };

export function parseSend(args: string[], flags: Map<string, string>): Outgoing {
  const [what, ...rest] = args;
  const only = (allowed: string[]) => {
    for (const flag of ["speed", "movement", "reply-to"]) {
      if (flags.has(flag) && !allowed.includes(flag)) throw new UsageError(`--${flag} does not apply to send ${what}`);
    }
  };
  if (what === "location") {
    only(["speed", "movement"]);
    if (rest.length !== 2)
      throw new UsageError("send location needs <lat> <lon>, e.g. send location -33.8568 151.2153");
    const latitude = number(rest[0], "latitude");
    const longitude = number(rest[1], "longitude");
    const speedKmh = flags.has("speed") ? number(flags.get("speed"), "--speed") : 0;
    if (speedKmh < 0) throw new UsageError("--speed must not be negative");
    const movementName = flags.get("movement") ?? "stationary";
    const movement = MOVEMENT_NAMES.get(movementName);
    if (movement === undefined)
      throw new UsageError(
        `unknown --movement "${printable(movementName)}"; valid movements: ${nameList(MOVEMENT_NAMES)}`,
      );
    return { kind: "location", latitude, longitude, speedKmh, movement };
  }
  if (what === "status") {
    only([]);
    if (rest.length !== 1)
      throw new UsageError(`send status needs one name; valid statuses: ${nameList(STATUS_NAMES)}`);
    const status = STATUS_NAMES.get(rest[0]);
    if (status === undefined)
      throw new UsageError(`unknown status "${printable(rest[0])}"; valid statuses: ${nameList(STATUS_NAMES)}`);
    return { kind: "status", status };
  }
  if (what === "text") {
    only(["reply-to"]);
    const message = rest.join(" ");
    if (message.trim() === "") throw new UsageError("send text needs the words to send");
    const replyTo = flags.get("reply-to");
    const parentPacketId = replyTo === undefined ? undefined : number(replyTo, "--reply-to");
    if (parentPacketId !== undefined && (!Number.isInteger(parentPacketId) || parentPacketId < 1)) {
      throw new UsageError("--reply-to must be a packet number (see-me inbox shows them, e.g. #3)");
    }
    return { kind: "text", message, parentPacketId };
  }
  throw new UsageError(
    what === undefined
      ? "send what? status, location or text"
      : `cannot send "${printable(what)}": send status, location or text`,
  );
}

async function send({ device, args, flags, print, gateway }: Invocation): Promise<number> {
  const outgoing = parseSend(args, flags);
  const to = flags.get("to");
  await checkTarget(device, to);
  let report: SendReport;
  if (outgoing.kind === "location") {
    const { latitude, longitude, movement, speedKmh } = outgoing;
    report = await device.sendLocation({ latitude, longitude, movement: movement as Movement, speedKmh }, { to });
  } else if (outgoing.kind === "status") {
    report = await device.sendStatus(outgoing.status as SimpleStatus, { to });
  } else {
    report = await device.sendText(outgoing.message, { to, parentPacketId: outgoing.parentPacketId });
  }
  return printReport(report, gateway, print);
}

/** Shown loudly in `watch`: the bell, then the line highlighted (or framed in "!!!" when the output is not a terminal). */
export function alarmLine(m: InboxMessage, label: (connection: string) => string, color: boolean): string {
  const what = alarmTitle(m) ?? "ALERT";
  const banner = `!!! ${what} from ${m.kind === "server" ? "the server" : label(m.connection)} !!!`;
  const line = describeMessage(m, label);
  return `\u0007${color ? `\u001b[1;97;41m ${banner} \u001b[0m ${line}` : `${banner} ${line}`}`;
}

/**
 * `watch` until Ctrl-C (or SIGTERM). The handler is installed before anything
 * else, and stopping waits at most a second for the stream to close, so the first
 * Ctrl-C always ends it; a second one ends it at once.
 */
async function watch(invocation: Invocation): Promise<number> {
  const { device, print, gateway } = invocation;
  let signalled!: (code: number) => void;
  const stopped = new Promise<number>((resolve) => (signalled = resolve));
  const onSignal = (signal: NodeJS.Signals) => {
    if (signal === "SIGINT") process.once("SIGINT", () => process.exit(130));
    signalled(signal === "SIGINT" ? 130 : 143);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
  const label = await labeller(device);
  printMessages(invocation, label, (m, l) => (isAlarm(m) ? alarmLine(m, l, color) : describeMessage(m, l)));
  let lastError: Error | undefined;
  device.events.on("error", (error) => (lastError = error));
  device.events.on("live", (up) => {
    if (up) print("live: connected");
    else print(`live: reconnecting (${lastError ? liveProblem(lastError, gateway) : "connection lost"})…`);
    lastError = undefined;
  });
  print(`watching for messages via ${gateway} (Ctrl-C stops)`);
  const starting = device.startLive();
  const first = await Promise.race([starting, stopped]);
  if (typeof first === "number") {
    starting.then((live) => live.stop()).catch(() => undefined);
    return first;
  }
  const code = await stopped;
  await Promise.race([first.stop(), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
  return code;
}

function liveProblem(error: Error, gateway: string): string {
  const failure = ConnectError.from(error);
  return isUnreachable(failure) ? unreachable(gateway, failure) : describeFailure(failure, gateway);
}

/** `check` refuses bad arguments before the device is opened (and before "run see-me init" could hide them). */
export const commands: Record<string, { run: Run; check?: (args: string[], flags: Map<string, string>) => void }> = {
  init: {
    async run({ device, print, home }) {
      if (await device.accountId())
        throw new CliError(`this device already has an account (in ${home}); use --home DIR for another device`);
      print(`account ${await device.register()} created (state in ${home})`);
    },
  },
  qr: {
    async run({ device, flags, print }) {
      const { qr } = await device.createOffer(flags.get("name") ?? "peer");
      showCode(print, qr, "Show this code to the other device; then paste their code with `see-me accept <code>`:");
    },
  },
  accept: {
    async run({ device, args, flags, print }) {
      const result = await device.scan(args[0], flags.get("name") ?? "peer");
      if (result.step === "answered")
        showCode(
          print,
          result.qr,
          "Show them this code; then paste the invite they show with `see-me accept <invite>`:",
        );
      if (result.step === "invited")
        showCode(print, result.qr, "The server signed the invite. Show them this invite code:");
      if (result.step === "confirmed") print(`connected: ${describeConnection(result.connection)}`);
    },
  },
  list: {
    async run({ device, print }) {
      await device.sync();
      const connections = await device.connections();
      if (connections.length === 0) print("no connections yet: make one with `see-me qr`");
      for (const connection of connections) print(describeConnection(connection));
    },
  },
  send: { run: send, check: (args, flags) => void parseSend(args, flags) },
  sharing: {
    check([state]) {
      if (state !== "on" && state !== "off") throw new UsageError(`sharing is on or off, not "${printable(state)}"`);
    },
    async run({ device, args, print, gateway }) {
      if (args[0] !== "on" && args[0] !== "off")
        throw new UsageError(`sharing is on or off, not "${printable(args[0])}"`);
      const report = await device.setSharing(args[0] === "on");
      print(`location sharing is ${args[0]}`);
      if (report.syncError)
        print(
          `telling my connections is queued (will be sent on next sync): ${syncProblem(report.syncError, gateway)}`,
        );
    },
  },
  sync: {
    async run(invocation) {
      const off = printMessages(invocation, await labeller(invocation.device));
      const report = await invocation.device.sync();
      off();
      invocation.print(`synced: ${report.sent} sent, ${report.received} received`);
    },
  },
  inbox: {
    async run({ device, print }) {
      const label = await labeller(device);
      const messages = await device.inbox();
      if (messages.length === 0) print("no messages yet (see-me sync fetches new ones)");
      for (const message of messages) print(describeMessage(message, label));
    },
  },
  watch: { run: watch },
  break: {
    async run({ device, args, print }) {
      const connections = await device.connections();
      try {
        await device.connection(args[0]);
      } catch (error) {
        if (ConnectError.from(error).code === Code.NotFound)
          throw new CliError(`no connection named "${printable(args[0])}"; ${connectionNames(connections)}`);
        throw error;
      }
      const result = await device.breakConnection(args[0]);
      const name = `${printable(result.label)} (${short(result.connection)})`;
      print(
        result.alreadyEnded
          ? `connection ${name} was already ${result.alreadyEnded}; nothing to do`
          : `connection ${name} broken`,
      );
    },
  },
};
