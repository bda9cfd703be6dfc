import * as grpc from "@grpc/grpc-js";

/**
 * Asks grpc.reflection.v1 for the service list, as grpcurl would. The request
 * is hand-encoded (ServerReflectionRequest{list_services: "*"} = field 7) and
 * names are read from the response bytes, so the check does not depend on the
 * server's own reflection code.
 */
export function listServices(address: string): Promise<string[]> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  return new Promise<string[]>((resolve, reject) => {
    const call = client.makeBidiStreamRequest(
      "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
      () => Buffer.from([0x3a, 0x01, 0x2a]),
      (bytes: Buffer) => bytes,
      new grpc.Metadata(),
      { deadline: Date.now() + 5000 },
    );
    call.on("data", (bytes: Buffer) => {
      resolve(bytes.toString("latin1").match(/[a-z]+(\.[a-z0-9]+)*\.v1(alpha)?\.[A-Za-z]+/g) ?? []);
      call.end();
    });
    call.on("error", reject);
    call.on("end", () => client.close());
    call.write({});
  });
}
