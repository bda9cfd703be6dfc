/** Type and sub-type codes of SPEC §6: defined once in the contracts package, shared with the services. */
export {
  ConnectionManagement,
  DANGER_STATUSES,
  GENERAL_STATUSES,
  isCodeOf,
  isDangerStatus,
  Movement,
  PrimaryType,
  ServerMessage,
  SimpleStatus,
  TextMessageKind,
} from "@seeme/contracts/protocol";
