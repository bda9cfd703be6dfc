import { ChallengePurpose } from "@seeme/contracts/identity";
import {
  challengePayload,
  initiatePayload,
  invitePayload,
  isPairId,
  MAX_ACK_ENTRIES,
  MAX_ACKS_PER_SYNC,
  PAIR_ID_LENGTH,
  SERVER_PAIR_ID,
  type ChallengeKind,
} from "@seeme/contracts/protocol";

const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const A = "A".repeat(40);
const B = `${"b".repeat(39)}9`;

describe("protocol", () => {
  it("pairIDs are exactly 40 characters of [A-Za-z0-9]; SERVER is not one", () => {
    expect(PAIR_ID_LENGTH).toBe(40);
    expect(isPairId(A)).toBe(true);
    expect(isPairId(B)).toBe(true);
    const bad = ["A".repeat(39), "A".repeat(41), `${"A".repeat(39)}-`, `${"A".repeat(39)}é`, SERVER_PAIR_ID, 40, null];
    for (const value of bad) {
      expect(isPairId(value)).toBe(false);
    }
    expect(SERVER_PAIR_ID).toBe("SERVER");
    expect([MAX_ACKS_PER_SYNC, MAX_ACK_ENTRIES]).toEqual([5000, 1000]);
  });

  it("signed payloads are the prefixed byte strings of SPEC §3", () => {
    expect(decode(initiatePayload(A, B))).toBe(`see-me/connection/v1/initiate\n${A}\n${B}`);
    const recipientKey = new Uint8Array(32).fill(7);
    const invite = invitePayload(A, B, recipientKey);
    expect(decode(invite.subarray(0, -33))).toBe(`see-me/connection/v1/invite\n${A}\n${B}`);
    expect([...invite.subarray(-33)]).toEqual([0x0a, ...recipientKey]);
    expect(() => initiatePayload(A, "SERVER")).toThrow(RangeError);

    const nonce = new Uint8Array([1, 2, 3]);
    const signIn = challengePayload(ChallengePurpose.SIGN_IN, nonce, "acct");
    const utf8 = (text: string) => [...new TextEncoder().encode(text)];
    expect([...signIn]).toEqual([...utf8("see-me/identity/v1/sign-in\n"), 1, 2, 3, ...utf8("acct")]);
    const key = new Uint8Array([9, 9]);
    const prefix = (purpose: ChallengeKind) => decode(challengePayload(purpose, nonce, key).slice(0, -5));
    expect(prefix(ChallengePurpose.REGISTER)).toBe("see-me/identity/v1/register\n");
    expect(prefix(ChallengePurpose.ROTATE_KEY)).toBe("see-me/identity/v1/rotate-key\n");
  });
});
