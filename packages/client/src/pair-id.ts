import { ClientError } from "./errors.js";
import { cryptoRandom, randomAlphanumeric, type RandomSource } from "./random.js";

export const PAIR_ID_LENGTH = 40;

const PAIR_ID_PATTERN = /^[A-Za-z0-9]{40}$/;

/** A fresh receiving address for one side of a connection: 40 random [A-Za-z0-9] (≈238 bits). */
export function newPairId(random: RandomSource = cryptoRandom): string {
  return randomAlphanumeric(PAIR_ID_LENGTH, random);
}

export function isPairId(value: unknown): value is string {
  return typeof value === "string" && PAIR_ID_PATTERN.test(value);
}

export function assertPairId(value: unknown, name: string): asserts value is string {
  if (!isPairId(value)) throw new ClientError("invalid-pair-id", `${name} must be 40 characters of [A-Za-z0-9]`);
}
