import { formatLine, paint, styleFor } from "../../scripts/log-stream.js";

/** The launcher's log stream: plain when piped, coloured on a terminal, always timestamped. */
describe("npm start log stream", () => {
  const at = new Date(2026, 0, 2, 3, 4, 5, 67).getTime();

  it("colours only a terminal without NO_COLOR", () => {
    expect(styleFor({ isTTY: true }, {})).toEqual({ color: true });
    expect(styleFor({ isTTY: false }, {})).toEqual({ color: false });
    expect(styleFor({}, {})).toEqual({ color: false });
    expect(styleFor({ isTTY: true }, { NO_COLOR: "1" })).toEqual({ color: false });
    expect(paint({ color: true }, 32, "gateway")).toBe("\x1b[32mgateway\x1b[0m");
    expect(paint({ color: false }, 32, "gateway")).toBe("gateway");
  });

  it("turns a pino line into time, prefix, level, message and fields at the line's own time", () => {
    const line = JSON.stringify({
      level: 40,
      time: at,
      pid: 1,
      hostname: "h",
      name: "gateway",
      msg: "slow",
      ms: 12,
      peer: { a: 1 },
    });
    expect(formatLine(line, "gateway   |", 0)).toBe('03:04:05.067 gateway   | WARN slow ms=12 peer={"a":1}');
  });

  it("stamps other lines with the time they arrived", () => {
    expect(formatLine("gateway: SIGTERM received, stopping", "gateway   |", at)).toBe(
      "03:04:05.067 gateway   | gateway: SIGTERM received, stopping",
    );
    expect(formatLine("{not json", "x |", at)).toBe("03:04:05.067 x | {not json");
  });
});
