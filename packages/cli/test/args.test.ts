import { DEFAULT_GATEWAY, UsageError, normalizeGateway, parseCommandLine } from "../src/args.js";
import { generalHelp, commandHelp } from "../src/command-spec.js";

/** The command line as parseArgs reads it: every mistake is a UsageError naming the command it belongs to. */

const parse = (line: string, env: NodeJS.ProcessEnv = {}) => parseCommandLine(line.split(" ").filter(Boolean), env);

function refused(line: string): UsageError {
  try {
    parse(line);
  } catch (error) {
    if (error instanceof UsageError) return error;
    throw error;
  }
  throw new Error(`"${line}" was accepted`);
}

test("global options before or after the command, with = or a space", () => {
  for (const line of ["--home=/x list", "--home /x list", "list --home /x", "list --home=/x"]) {
    expect(parse(line)).toMatchObject({ command: "list", args: [], home: "/x", gateway: DEFAULT_GATEWAY, help: false });
  }
});

test("a command's options and arguments; negative numbers are arguments, also as option values", () => {
  const line = parse("send location -33.8568 151.2153 --movement walking --speed -0 --to mum");
  expect(line.command).toBe("send");
  expect(line.args).toEqual(["location", "-33.8568", "151.2153"]);
  expect(Object.fromEntries(line.flags)).toEqual({ movement: "walking", speed: "-0", to: "mum" });
  expect(parse("send text -- --not-an-option").args).toEqual(["text", "--not-an-option"]);
});

test("missing values, unknown options, values for switches and repeated options are refused, naming the option", () => {
  expect(refused("init --home")).toMatchObject({ message: "--home needs a value: --home DIR", command: "init" });
  expect(refused("init --home --gateway 127.0.0.1:1").message).toBe("--home needs a value: --home DIR");
  expect(refused("init --home=").message).toBe("--home needs a value: --home DIR");
  expect(refused("list --frobnicate")).toMatchObject({
    message: "unknown option --frobnicate (see-me list --help lists its options)",
    command: "list",
  });
  expect(refused("list --to mum")).toMatchObject({
    message: expect.stringContaining("unknown option --to"),
    command: "list",
  });
  expect(refused("--frob x list")).toMatchObject({
    message: "unknown option --frob (see-me --help lists them)",
    command: undefined,
  });
  expect(refused("list --help=yes").message).toBe("--help takes no value");
  expect(refused("send status sos --to a --to b").message).toBe("--to is given twice");
  expect(refused("lst").message).toContain('unknown command "lst"; the commands are: init, qr, accept, list');
  expect(refused("break").message).toBe("break is missing an argument");
  expect(refused("list extra").message).toBe('list does not take "extra"');
});

test("--help and -h ask for help, even when arguments are missing", () => {
  expect(parse("send --help")).toMatchObject({ command: "send", help: true });
  expect(parse("-h")).toMatchObject({ command: undefined, help: true });
  expect(generalHelp()).toContain("send status|location|text …");
  expect(commandHelp("send")).toContain("usage: see-me send status <name> [--to CONNECTION]");
});

test("the gateway: host:port means http, a URL is kept, the flag beats SEEME_GATEWAY, anything else is refused", () => {
  expect(normalizeGateway("127.0.0.1:8080")).toBe("http://127.0.0.1:8080");
  expect(normalizeGateway("localhost:8080")).toBe("http://localhost:8080");
  expect(normalizeGateway("https://see-me.example/")).toBe("https://see-me.example");
  expect(normalizeGateway("http://[::1]:8080")).toBe("http://[::1]:8080");
  expect(parse("list", { SEEME_GATEWAY: "10.0.0.2:9000" }).gateway).toBe("http://10.0.0.2:9000");
  expect(parse("list --gateway 10.0.0.3:1", { SEEME_GATEWAY: "10.0.0.2:9000" }).gateway).toBe("http://10.0.0.3:1");
  for (const bad of ["ftp://x", "http://", "x:y:z", "http://h/?q=1"])
    expect(() => normalizeGateway(bad)).toThrow(/is not a gateway address/);
  expect(() => parse("list", { SEEME_GATEWAY: "ftp://x" })).toThrow('SEEME_GATEWAY "ftp://x" is not a gateway address');
});
