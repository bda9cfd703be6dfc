import { UsageError, parseCommandLine } from "./args.js";
import { COMMANDS, commandHelp, commandUsage, generalHelp } from "./command-spec.js";

/**
 * The `see-me` entry point. It parses the command line with nothing but node:util and
 * the command table, so `--help` and usage errors need no SDK; a command's modules
 * are imported only when it runs.
 */

const out = (text: string) => process.stdout.write(`${text}\n`);
const err = (text: string) => process.stderr.write(`${text}\n`);

async function help(name: string | undefined): Promise<string> {
  if (name === undefined || name === "help") return generalHelp();
  if (name !== "send") return commandHelp(name);
  // The lists of valid names come from the SDK's small codes module, loaded only here.
  const { MOVEMENT_NAMES, STATUS_NAMES, nameList } = await import("./names.js");
  return commandHelp(name, [`statuses: ${nameList(STATUS_NAMES)}`, `movements: ${nameList(MOVEMENT_NAMES)}`]);
}

async function main(argv: string[]): Promise<number> {
  let line;
  try {
    line = parseCommandLine(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    err(`see-me${error.command ? ` ${error.command}` : ""}: ${error.message}`);
    err(error.command ? commandUsage(error.command) : "usage: see-me <command> [arguments] [options]  (see-me --help)");
    return 2;
  }
  if (line.command === undefined || line.help) {
    out(await help(line.command));
    return 0;
  }
  if (line.command === "help") {
    const topic = line.args[0];
    if (topic !== undefined && !(topic in COMMANDS)) {
      err(`see-me help: unknown command "${topic}"; the commands are: ${Object.keys(COMMANDS).join(", ")}`);
      return 2;
    }
    out(await help(topic));
    return 0;
  }
  const { runCommand } = await import("./run.js");
  return runCommand(line, { out, err });
}

const code = await main(process.argv.slice(2));
// Exit as soon as the command is done: an idle keep-alive connection to the gateway must not hold the prompt.
process.stdout.write("", () => process.exit(code));
