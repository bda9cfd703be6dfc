import { isPairId, PAIR_ID_LENGTH } from "@seeme/contracts/protocol";
import { ClientError } from "./errors.js";
import { cryptoRandom, randomAlphanumeric, type RandomSource } from "./random.js";

export { isPairId, PAIR_ID_LENGTH };

/** A fresh receiving address for one side of a connection: 40 random [A-Za-z0-9] (≈238 bits). */
export function newPairId(random: RandomSource = cryptoRandom): string {
  return randomAlphanumeric(PAIR_ID_LENGTH, random);
}

export function assertPairId(value: unknown, name: string): asserts value is string {
  if (!isPairId(value)) throw new ClientError("invalid-pair-id", `${name} must be 40 characters of [A-Za-z0-9]`);
}
