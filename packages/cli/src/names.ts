import { Movement, SimpleStatus, TextMessageKind } from "@seeme/client/codes";

/**
 * Human-readable names for the codes of SPEC §6, as typed on the command line.
 * Only the small codes module is imported, so help and usage errors can list them cheaply.
 */
const kebab = (name: string) =>
  name
    .replace(/([a-z])([A-Z])/g, "$1-$2")
    .replace(/([A-Z])([A-Z][a-z])/g, "$1-$2")
    .toLowerCase();

export const STATUS_NAMES = new Map(Object.entries(SimpleStatus).map(([name, code]) => [kebab(name), code]));
export const MOVEMENT_NAMES = new Map(Object.entries(Movement).map(([name, code]) => [kebab(name), code]));
export const STATUS_BY_CODE = new Map([...STATUS_NAMES].map(([name, code]) => [code as number, name]));
export const MOVEMENT_BY_CODE = new Map([...MOVEMENT_NAMES].map(([name, code]) => [code as number, name]));
export const TEXT_KIND_BY_CODE = new Map(
  Object.entries(TextMessageKind).map(([name, code]) => [code as number, kebab(name)]),
);

export function statusName(code: number): string {
  return STATUS_BY_CODE.get(code) ?? `status ${code}`;
}

/** "a, b, c" for an error message or a help line. */
export function nameList(names: Map<string, unknown>): string {
  return [...names.keys()].join(", ");
}
