import { create, fromBinary, toBinary, type DescMessage, type DescMethod } from "@bufbuild/protobuf";

/** grpc-js (de)serializers for a protobuf-es message schema: both sides of the bridge use these. */
export const serializer = (schema: DescMessage) => (message: unknown) =>
  Buffer.from(toBinary(schema, create(schema, message as never)));
export const deserializer = (schema: DescMessage) => (bytes: Buffer) => fromBinary(schema, bytes);

/** The HTTP/2 path of a method: `/<package.Service>/<Method>`. */
export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}
