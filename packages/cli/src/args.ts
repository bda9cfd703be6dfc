import { parseArgs } from "node:util";
import { COMMANDS, GLOBAL_OPTIONS, type OptionSpec } from "./command-spec.js";

export const DEFAULT_GATEWAY = "http://127.0.0.1:8080";

/** The command line was wrong: the message says what, and the command's usage follows it (exit status 2). */
export class UsageError extends Error {
  constructor(
    message: string,
    /** The command whose usage to show; none for errors before the command is known. */
    readonly command?: string,
  ) {
    super(message);
  }
}

export interface CommandLine {
  /** The command, or undefined when none was given. */
  command: string | undefined;
  args: string[];
  /** The command's own options (not --home, --gateway, --help). */
  flags: Map<string, string>;
  help: boolean;
  home: string | undefined;
  gateway: string;
}

// parseArgs reads "-33.8" as short options; a negative number is always an argument here (a latitude).
const NEGATIVE_NUMBER = /^-\d/;
const PLACEHOLDER = "\u0000negative:";

function parseOptions(argv: string[], options: Record<string, OptionSpec>) {
  const hidden = argv.map((arg) => (NEGATIVE_NUMBER.test(arg) ? PLACEHOLDER + arg : arg));
  const restore = (value: string) => (value.startsWith(PLACEHOLDER) ? value.slice(PLACEHOLDER.length) : value);
  // strict: false only so that this function, not parseArgs, words the errors (in the tokens loop below).
  const parsed = parseArgs({ args: hidden, options, strict: false, allowPositionals: true, tokens: true });
  return { tokens: parsed.tokens, positionals: parsed.positionals.map(restore), restore };
}

/**
 * Parses `see-me [global options] <command> [arguments and options]` with node:util
 * parseArgs. Options may come before or after the command; an unknown option, an
 * option without its value, or a value given to a switch is a UsageError naming it.
 */
export function parseCommandLine(argv: string[], env: NodeJS.ProcessEnv = process.env): CommandLine {
  // First pass, knowing every option of every command, only to find the command name.
  const every: Record<string, OptionSpec> = Object.assign(
    {},
    GLOBAL_OPTIONS,
    ...Object.values(COMMANDS).map((c) => c.options),
  );
  const first = parseOptions(argv, every);
  const name = first.positionals[0];
  // An unknown option before the command may have swallowed its name: name the option, not a wrong command.
  for (const token of first.tokens) {
    if (token.kind === "positional") break;
    if (token.kind === "option" && !(token.name in every)) {
      throw new UsageError(`unknown option ${token.rawName} (see-me --help lists them)`);
    }
  }
  if (name !== undefined && !(name in COMMANDS)) {
    throw new UsageError(`unknown command "${name}"; the commands are: ${Object.keys(COMMANDS).join(", ")}`);
  }
  const spec = name === undefined ? undefined : COMMANDS[name];
  const options = { ...GLOBAL_OPTIONS, ...spec?.options };
  const { tokens, positionals, restore } = parseOptions(argv, options);
  const values = new Map<string, string | true>();
  for (const token of tokens) {
    if (token.kind !== "option") continue;
    const option = options[token.name] as OptionSpec | undefined;
    const flag = token.rawName;
    if (!option) {
      const hint = name === undefined ? "see-me --help lists them" : `see-me ${name} --help lists its options`;
      throw new UsageError(`unknown option ${flag} (${hint})`, name);
    }
    if (option.type === "boolean") {
      if (token.value !== undefined) throw new UsageError(`${flag} takes no value`, name);
      values.set(token.name, true);
      continue;
    }
    const value = token.value === undefined ? undefined : restore(token.value);
    // A separate value that looks like an option means the value was forgotten: `init --home --gateway x`.
    const looksLikeOption = !token.inlineValue && value?.startsWith("-") === true && !NEGATIVE_NUMBER.test(value);
    if (value === undefined || value === "" || looksLikeOption) {
      throw new UsageError(`${flag} needs a value: ${flag} ${option.value}`, name);
    }
    if (values.has(token.name)) throw new UsageError(`${flag} is given twice`, name);
    values.set(token.name, value);
  }
  const args = positionals.slice(1);
  if (spec && !values.has("help") && (args.length < spec.positionals.min || args.length > spec.positionals.max)) {
    const problem =
      args.length < spec.positionals.min ? "is missing an argument" : `does not take "${args[spec.positionals.max]}"`;
    throw new UsageError(`${name} ${problem}`, name);
  }
  const flags = new Map<string, string>();
  for (const [key, value] of values) if (!(key in GLOBAL_OPTIONS) && typeof value === "string") flags.set(key, value);
  const gatewayFlag = values.get("gateway");
  const gateway =
    typeof gatewayFlag === "string"
      ? normalizeGateway(gatewayFlag, "--gateway", name)
      : env.SEEME_GATEWAY
        ? normalizeGateway(env.SEEME_GATEWAY, "SEEME_GATEWAY", name)
        : DEFAULT_GATEWAY;
  const home = values.get("home");
  const help = values.has("help");
  return { command: name, args, flags, help, home: typeof home === "string" ? home : undefined, gateway };
}

/** `127.0.0.1:8080`, `localhost:8080` or a full http(s) URL; a bare host:port means http. */
export function normalizeGateway(raw: string, source = "--gateway", command?: string): string {
  const text = raw.trim();
  const withScheme = /^[a-z][a-z\d+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  let url: URL | undefined;
  try {
    url = new URL(withScheme);
  } catch {
    url = undefined;
  }
  const web = url?.protocol === "http:" || url?.protocol === "https:";
  const usable = url && web && url.hostname !== "" && !url.search && !url.hash;
  if (!url || !usable) {
    const hint = "give host:port (127.0.0.1:8080) or a URL (https://see-me.example)";
    throw new UsageError(`${source} "${raw}" is not a gateway address: ${hint}`, command);
  }
  return url.href.replace(/\/+$/, "");
}
