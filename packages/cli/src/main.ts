import { ConnectError } from "@connectrpc/connect";
import { ClientError } from "@seeme/client";
import { UsageError, commands } from "./commands.js";
import { runDemo } from "./demo.js";
import { DEFAULT_GATEWAY, defaultHome, openDevice } from "./device.js";

const HELP = `see-me — a see-me device on the command line

usage: see-me <command> [--home DIR] [--gateway URL]
  state in --home (default ~/.see-me); gateway from --gateway or SEEME_GATEWAY (default ${DEFAULT_GATEWAY})

commands:
${Object.values(commands)
  .map((command) => `  ${command.usage}`)
  .join("\n")}
  demo                          two temporary devices against the running stack, narrated`;

/** Splits argv into positional arguments and `--flag value` pairs. */
function parse(argv: string[]): { args: string[]; flags: Map<string, string> } {
  const args: string[] = [];
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith("--")) flags.set(argv[i].slice(2), argv[++i] ?? "");
    else args.push(argv[i]);
  }
  return { args, flags };
}

async function main(argv: string[]): Promise<number> {
  const { args, flags } = parse(argv);
  const [name, ...rest] = args;
  const gateway = flags.get("gateway") ?? process.env.SEEME_GATEWAY ?? DEFAULT_GATEWAY;
  const print = (line: string) => process.stdout.write(`${line}\n`);
  if (name === "demo") return runDemo({ gateway, print });
  const command = name === undefined ? undefined : commands[name];
  if (!command) {
    print(HELP);
    return name === undefined || name === "help" ? 0 : 2;
  }
  try {
    await command.run({ device: openDevice({ home: flags.get("home") ?? defaultHome(), gateway }), args: rest, flags, print });
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      print(`usage: see-me ${error.message}`);
      return 2;
    }
    // ClientErrors are ConnectErrors too, but ConnectError.from does not recognise the subclass.
    const message = error instanceof ClientError || error instanceof ConnectError ? error.rawMessage : String(error);
    process.stderr.write(`see-me ${name}: ${message}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
