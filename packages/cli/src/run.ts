import { homedir } from "node:os";
import { join } from "node:path";
import { UsageError, type CommandLine } from "./args.js";
import { COMMANDS, commandUsage } from "./command-spec.js";
import { CliError, describeFailure } from "./errors.js";

export interface Output {
  out: (line: string) => void;
  err: (line: string) => void;
}

/** Runs one parsed command: opens the device, checks it has an account if the command needs one, reports errors. */
export async function runCommand(line: CommandLine, io: Output): Promise<number> {
  const name = line.command!;
  const home = line.home ?? join(homedir(), ".see-me");
  try {
    if (name === "demo") {
      const { runDemo } = await import("./demo.js");
      return await runDemo({ gateway: line.gateway, print: io.out });
    }
    const [{ commands }, { openDevice }] = await Promise.all([import("./commands.js"), import("./device.js")]);
    commands[name].check?.(line.args, line.flags);
    const device = openDevice({ home, gateway: line.gateway });
    if (COMMANDS[name].needsAccount && !(await device.accountId())) {
      const what = "run `see-me init` first, or pass --home to use another device";
      throw new CliError(`this device has no account yet (in ${home}): ${what}`);
    }
    const { args, flags, gateway } = line;
    return (await commands[name].run({ device, args, flags, print: io.out, gateway, home })) ?? 0;
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`see-me ${name}: ${error.message}`);
      io.err(commandUsage(error.command ?? name));
      return 2;
    }
    io.err(`see-me ${name}: ${describeFailure(error, line.gateway)}`);
    return 1;
  }
}
