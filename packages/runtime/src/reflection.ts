import type * as grpc from "@grpc/grpc-js";
import { toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { ReflectionService } from "@grpc/reflection";
import type { PackageDefinition } from "@grpc/proto-loader";

function withDependencies(file: DescFile, into: Map<string, DescFile>): void {
  if (into.has(file.name)) return;
  into.set(file.name, file);
  for (const dependency of file.dependencies) withDependencies(dependency, into);
}

/**
 * gRPC server reflection from protobuf-es descriptors. @grpc/reflection reads a
 * proto-loader package definition, of which it only uses the serialized file
 * descriptors, so we hand it those for the given services and their imports.
 * `extraServiceNames` lists services registered by other means (health).
 */
export function addReflectionService(server: grpc.Server, services: DescService[]): void {
  const files = new Map<string, DescFile>();
  for (const service of services) withDependencies(service.file, files);
  const fileDescriptorProtos = [...files.values()].map((file) =>
    Buffer.from(toBinary(FileDescriptorProtoSchema, file.proto)),
  );
  const definition = Object.fromEntries(
    services.map((service) => [service.typeName, { fileDescriptorProtos }]),
  ) as unknown as PackageDefinition;
  new ReflectionService(definition).addToServer(server);
}
