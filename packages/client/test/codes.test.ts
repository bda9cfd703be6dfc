import {
  ConnectionManagement,
  DANGER_STATUSES,
  GENERAL_STATUSES,
  Movement,
  PrimaryType,
  ServerMessage,
  SimpleStatus,
  TextMessageKind,
  isCodeOf,
  isDangerStatus,
} from "../src/codes.js";

describe("SPEC §6 codes", () => {
  it("numbers the primary types 1–6", () => {
    expect(PrimaryType).toEqual({
      LocationUpdate: 1,
      LocationSharingState: 2,
      SimpleStatus: 3,
      TextMessage: 4,
      ConnectionManagement: 5,
      ServerMessage: 6,
    });
  });

  it("splits simple statuses into danger 0–7 and general 8–13", () => {
    expect(Object.values(SimpleStatus)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    expect(SimpleStatus.Sos).toBe(7);
    expect(SimpleStatus.IllBeHomeLate).toBe(13);
    expect(DANGER_STATUSES).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(GENERAL_STATUSES).toEqual([8, 9, 10, 11, 12, 13]);
    expect(isDangerStatus(SimpleStatus.INeedUrgentHelp)).toBe(true);
    expect(isDangerStatus(SimpleStatus.ImOk)).toBe(false);
  });

  it("numbers movement, text, connection and server sub-types", () => {
    expect(Object.values(Movement)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Movement.Walking).toBe(3);
    expect(Object.values(TextMessageKind)).toEqual([1, 2, 3, 4, 5]);
    expect(TextMessageKind.LocationPin).toBe(5);
    expect(ConnectionManagement).toEqual({ Initiate: 1, Confirm: 2, Confirmed: 3, Expired: 4, Break: 5 });
    expect(Object.values(ServerMessage)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(ServerMessage.PaymentPlanToken).toBe(8);
  });

  it("tells known codes from unknown ones", () => {
    expect(isCodeOf(Movement, 6)).toBe(true);
    expect(isCodeOf(Movement, 0)).toBe(false);
    expect(isCodeOf(Movement, 7)).toBe(false);
  });
});
