export * from "./gen/seeme/gateway/v1/gateway_pb.js";
