import * as grpc from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";

type HealthClient = grpc.Client & {
  check(
    req: { service: string },
    options: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, res?: { status: string }) => void,
  ): void;
};
const HealthClientCtor = grpc.makeGenericClientConstructor(healthService, "Health") as unknown as new (
  address: string,
  credentials: grpc.ChannelCredentials,
) => HealthClient;

/** Calls grpc.health.v1.Health/Check; resolves "SERVING", "NOT_SERVING", ... */
export function checkHealth(address: string, service = ""): Promise<string> {
  const client = new HealthClientCtor(address, grpc.credentials.createInsecure());
  return new Promise<string>((resolve, reject) =>
    client.check({ service }, { deadline: Date.now() + 3000 }, (error, response) => {
      client.close();
      if (error) reject(error);
      else resolve(String(response!.status));
    }),
  );
}

export { waitFor } from "./wait.js";
