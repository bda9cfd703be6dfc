import type { Manifest } from "./invariants.js";

interface ModelClass {
  new (data: unknown): { validate(): void };
}

/** `apps/v1` + `Deployment` → the kubernetes-models module that holds its schema. */
function modulePath(apiVersion: string, kind: string): string {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  return group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/${version}/${kind}`;
}

/**
 * kustomize wraps long base64 Secret data across lines; the API server's base64
 * decoder skips line breaks, the schema's "byte" format does not.
 */
function normalized(obj: Manifest): Manifest {
  if (obj.kind !== "Secret" || typeof obj.data !== "object" || obj.data === null) return obj;
  const data = Object.fromEntries(
    Object.entries(obj.data as Record<string, string>).map(([key, value]) => [key, value.replace(/\s+/g, "")]),
  );
  return { ...obj, data };
}

/**
 * Validates one object against the Kubernetes OpenAPI schema shipped by
 * kubernetes-models. Returns the problems (empty when valid). A kind without a
 * schema is a problem too, so nothing passes unchecked. The schemas allow
 * unknown fields, so misspelt field names are caught by the invariant checks.
 */
export async function schemaProblems(obj: Manifest): Promise<string[]> {
  const label = `${obj.kind}/${obj.metadata?.name}`;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(modulePath(obj.apiVersion, obj.kind))) as Record<string, unknown>;
  } catch (err) {
    return [`${label}: no Kubernetes schema for ${obj.apiVersion} ${obj.kind} (${(err as Error).message})`];
  }
  const Model = mod[obj.kind] as ModelClass | undefined;
  if (typeof Model !== "function") return [`${label}: no Kubernetes schema for ${obj.apiVersion} ${obj.kind}`];
  try {
    new Model(normalized(obj)).validate();
    return [];
  } catch (err) {
    return [`${label}: ${(err as Error).message}`];
  }
}
