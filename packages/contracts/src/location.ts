export * from "./gen/seeme/location/v1/location_pb.js";
export * from "./gen/seeme/location/v1/events_pb.js";
export * from "./gen/seeme/location/v1/push_pb.js";
