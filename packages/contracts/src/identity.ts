export * from "./gen/seeme/identity/v1/identity_pb.js";
export * from "./gen/seeme/identity/v1/events_pb.js";
