/**
 * protobuf-es v2 generates descriptors, not grpc-js definitions. The bridge
 * between the two is split into the server (grpc-server.ts: serve any Connect
 * `ServiceImpl` on a grpc-js server) and the client (grpc-client.ts: a typed
 * Connect-style client over a grpc-js channel); this module re-exports both.
 */
export { addServices, registration, type ServiceRegistration } from "./grpc-server.js";
export { createGrpcClient } from "./grpc-client.js";
