import { ClientError } from "./errors.js";

export function invalidPayload(message: string): ClientError {
  return new ClientError("invalid-payload", message);
}

/**
 * Reads the fixed-width fields of a payload left to right. Each field is checked against
 * its pattern so a bad payload is reported by field name and position, never by value.
 */
export class FixedWidthReader {
  private offset = 0;

  constructor(
    private readonly text: string,
    private readonly payloadName: string,
  ) {}

  take(length: number, field: string, pattern: RegExp, expected: string): string {
    const value = this.text.slice(this.offset, this.offset + length);
    if (!pattern.test(value)) {
      throw invalidPayload(`${this.payloadName}: ${field} at position ${this.offset} must be ${expected}`);
    }
    this.offset += length;
    return value;
  }

  rest(): string {
    return this.text.slice(this.offset);
  }
}

export function parseFlag(digit: string): boolean {
  return digit === "1";
}

export function formatFlag(flag: boolean): string {
  return flag ? "1" : "0";
}

export function padNumber(value: number, width: number): string {
  return String(value).padStart(width, "0");
}
