/**
 * The launcher's log stream: each child's pino JSON lines become
 * "HH:MM:SS.mmm service   | LEVEL message key=value". Colour codes only when
 * the stream is a terminal and NO_COLOR is unset, so a log piped to a file or
 * another program stays plain text.
 */
const LEVELS: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };

export interface LogStyle {
  color: boolean;
}

export function styleFor(stream: { isTTY?: boolean }, env: Record<string, string | undefined> = process.env): LogStyle {
  return { color: stream.isTTY === true && !env.NO_COLOR };
}

export function paint(style: LogStyle, code: number, text: string): string {
  return style.color ? `\x1b[${code}m${text}\x1b[0m` : text;
}

/** Local time of day with milliseconds: enough to follow one run. */
export function clock(time: number): string {
  const at = new Date(time);
  const pad = (n: number, width = 2) => String(n).padStart(width, "0");
  return `${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}.${pad(at.getMilliseconds(), 3)}`;
}

/** One child line with time and prefix; pino JSON becomes "LEVEL message key=value" at the line's own time. */
export function formatLine(line: string, prefix: string, now = Date.now()): string {
  if (line.startsWith("{")) {
    try {
      const {
        level,
        msg,
        time,
        pid: _pid,
        hostname: _hostname,
        name: _name,
        ...rest
      } = JSON.parse(line) as Record<string, unknown>;
      const fields = Object.entries(rest).map(
        ([key, value]) => `${key}=${typeof value === "object" ? JSON.stringify(value) : String(value)}`,
      );
      const text = [LEVELS[Number(level)] ?? String(level), msg, ...fields].filter(Boolean).join(" ");
      return `${clock(typeof time === "number" ? time : now)} ${prefix} ${text}`;
    } catch {
      // not JSON after all: printed as it came
    }
  }
  return `${clock(now)} ${prefix} ${line}`;
}
