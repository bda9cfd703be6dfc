export * from "./gen/seeme/connection/v1/connection_pb.js";
export * from "./gen/seeme/connection/v1/events_pb.js";
