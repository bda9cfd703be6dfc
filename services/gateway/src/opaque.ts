import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { EmptySchema } from "@bufbuild/protobuf/wkt";

/**
 * The hot path (docs/hot-path.md): a copy of `service` restricted to `names`,
 * whose methods carry their request and response as `google.protobuf.Empty`.
 * Empty has no fields, so protobuf-es keeps every field of the real message as
 * an unknown field: parsing only splits the body at its top-level field
 * boundaries (one tag per packet, nothing inside a packet is read, no UTF-8
 * check, no object per field), and serialising writes those slices back
 * unchanged. The gateway forwards Sync and Subscribe this way; location, which
 * needs the fields, decodes them once. Malformed content inside a field reaches
 * location, which answers InvalidArgument; a body that is not protobuf at all
 * fails here, with the same code.
 *
 * Binary protocols only: JSON names fields, so a JSON body must go through the
 * real schema (the gateway routes JSON calls to the decoding router).
 */
export function opaqueService<D extends DescService>(
  service: D,
  names: Array<keyof D["method"] & string>,
): DescService {
  const methods: DescMethod[] = service.methods
    .filter((method) => names.includes(method.localName as keyof D["method"] & string))
    .map((method) => ({ ...method, input: EmptySchema, output: EmptySchema }));
  const opaque: DescService = {
    ...service,
    methods,
    method: Object.fromEntries(methods.map((method) => [method.localName, method])),
  };
  for (const method of methods) (method as { parent: DescService }).parent = opaque;
  return opaque;
}

/** True for a content type whose messages are protobuf binary (gRPC, gRPC-web, Connect proto). */
export function isBinaryContentType(contentType: string | undefined): boolean {
  return (
    contentType !== undefined &&
    !contentType.includes("json") &&
    /^application\/(grpc|proto|connect\+proto)/.test(contentType)
  );
}
