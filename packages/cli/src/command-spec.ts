/**
 * What each command accepts and how it is used: everything `see-me --help` and the
 * argument parser need, with no SDK import, so help and usage errors start fast.
 */

export type OptionSpec =
  | { type: "string"; value: string; help: string }
  | { type: "boolean"; short?: string; help: string };

export interface CommandSpec {
  /** Usage lines after `see-me `. */
  usage: string[];
  /** The one line `see-me --help` shows, when the command has several usage lines. */
  synopsis?: string;
  summary: string;
  options: Record<string, OptionSpec>;
  /** Positional arguments accepted (the first usage line names them). */
  positionals: { min: number; max: number };
  /** Commands that act for an account refuse to run before `see-me init`. */
  needsAccount: boolean;
  /** More help shown by `see-me <command> --help`. */
  details?: string[];
}

export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  home: { type: "string", value: "DIR", help: "where this device keeps its state (default ~/.see-me)" },
  gateway: {
    type: "string",
    value: "URL",
    help: "the gateway: host:port or http(s)://host:port (default SEEME_GATEWAY, else http://127.0.0.1:8080)",
  },
  help: { type: "boolean", short: "h", help: "show help (of a command: see-me <command> --help)" },
};

const TO: OptionSpec = {
  type: "string",
  value: "CONNECTION",
  help: "send only to this connection (its name or pairID prefix)",
};
const NAME: OptionSpec = {
  type: "string",
  value: "NAME",
  help: "what to call this connection on this device (default peer)",
};

export const COMMANDS: Record<string, CommandSpec> = {
  init: {
    usage: ["init"],
    summary: "create this device's account",
    options: {},
    positionals: { min: 0, max: 0 },
    needsAccount: false,
  },
  qr: {
    usage: ["qr [--name NAME]"],
    summary: "show my code for a new connection",
    options: { name: NAME },
    positionals: { min: 0, max: 0 },
    needsAccount: true,
  },
  accept: {
    usage: ["accept <code> [--name NAME]"],
    summary: "scan a pasted code (theirs, or their invite)",
    options: { name: NAME },
    positionals: { min: 1, max: 1 },
    needsAccount: true,
    details: ["Pairing takes three pastes: A `qr` → B `accept` → A `accept` → B `accept` (the invite)."],
  },
  list: {
    usage: ["list"],
    summary: "sync, then list my connections",
    options: {},
    positionals: { min: 0, max: 0 },
    needsAccount: true,
  },
  send: {
    usage: [
      "send status <name> [--to CONNECTION]",
      "send location <lat> <lon> [--speed KMH] [--movement NAME] [--to CONNECTION]",
      "send text <words...> [--reply-to PACKET] [--to CONNECTION]",
    ],
    synopsis: "send status|location|text …",
    summary: "send a status, my location or a text (to every active connection, or --to one)",
    options: {
      to: TO,
      speed: { type: "string", value: "KMH", help: "location: my speed in km/h (default 0)" },
      movement: { type: "string", value: "NAME", help: "location: how I am moving (default stationary)" },
      "reply-to": { type: "string", value: "PACKET", help: "text: the packet number of the message this answers" },
    },
    positionals: { min: 1, max: Number.POSITIVE_INFINITY },
    needsAccount: true,
    details: ["If the gateway cannot be reached the packets stay queued and go out with the next sync."],
  },
  sharing: {
    usage: ["sharing on|off"],
    summary: "turn my location sharing on or off (my connections are told)",
    options: {},
    positionals: { min: 1, max: 1 },
    needsAccount: true,
  },
  sync: {
    usage: ["sync"],
    summary: "send what is queued and show what arrived",
    options: {},
    positionals: { min: 0, max: 0 },
    needsAccount: true,
  },
  inbox: {
    usage: ["inbox"],
    summary: "show every message received",
    options: {},
    positionals: { min: 0, max: 0 },
    needsAccount: true,
  },
  watch: {
    usage: ["watch"],
    summary: "show incoming messages live; SOS and I'm lost ring the bell (Ctrl-C stops)",
    options: {},
    positionals: { min: 0, max: 0 },
    needsAccount: true,
    details: ["Ctrl-C stops at once (exit status 130). Every location shows its time and age."],
  },
  break: {
    usage: ["break <connection>"],
    summary: "break a connection (its name, my pairID or a prefix of it)",
    options: {},
    positionals: { min: 1, max: 1 },
    needsAccount: true,
  },
  demo: {
    usage: ["demo"],
    summary: "two temporary devices against the running stack, narrated",
    options: {},
    positionals: { min: 0, max: 0 },
    needsAccount: false,
  },
  help: {
    usage: ["help [command]"],
    summary: "show this help, or a command's",
    options: {},
    positionals: { min: 0, max: 1 },
    needsAccount: false,
  },
};

function optionLines(options: Record<string, OptionSpec>): string[] {
  return Object.entries(options).map(([name, spec]) => {
    const short = spec.type === "boolean" && spec.short ? `-${spec.short}, ` : "";
    const flag = spec.type === "string" ? `--${name} ${spec.value}` : `${short}--${name}`;
    return `  ${flag.padEnd(22)} ${spec.help}`;
  });
}

/** `see-me --help`. */
export function generalHelp(): string {
  const synopsis = (c: CommandSpec) => c.synopsis ?? c.usage[0];
  const width = Math.max(...Object.values(COMMANDS).map((c) => synopsis(c).length));
  return [
    "see-me — a see-me device on the command line",
    "",
    "usage: see-me <command> [arguments] [--home DIR] [--gateway URL]",
    "",
    "commands:",
    ...Object.values(COMMANDS).map((c) => `  ${synopsis(c).padEnd(width)}  ${c.summary}`),
    "",
    "options (before or after the command):",
    ...optionLines(GLOBAL_OPTIONS),
    "",
    "see-me <command> --help shows a command's options.",
  ].join("\n");
}

/** The usage lines of one command: shown by `see-me <command> --help` and after each usage error. */
export function commandUsage(name: string): string {
  const spec = COMMANDS[name];
  const [first, ...rest] = spec.usage;
  return [`usage: see-me ${first}`, ...rest.map((line) => `       see-me ${line}`)].join("\n");
}

export function commandHelp(name: string, extra: string[] = []): string {
  const spec = COMMANDS[name];
  const options = Object.keys(spec.options).length > 0 ? ["", "options:", ...optionLines(spec.options)] : [];
  return [
    commandUsage(name),
    "",
    spec.summary,
    ...(spec.details ?? []),
    ...extra,
    ...options,
    "",
    "global options: --home DIR, --gateway URL, -h/--help",
  ].join("\n");
}
