import { execFileSync } from "node:child_process";
import { parseAllDocuments } from "yaml";
import type { Manifest } from "./invariants.js";

/** The oldest tools the manifests are written for (kustomize `labels`, native gRPC probes GA in 1.27). */
const MIN_KUBECTL_MINOR = 27;
const MIN_KUSTOMIZE_MAJOR = 5;

export interface ToolVersions {
  kubectl: string;
  kustomize: string;
}

/**
 * Reads `kubectl version --client`, throwing an error that says what to install
 * when kubectl is missing or too old: these tests must fail, never skip.
 */
export function kubectlVersions(): ToolVersions {
  let out: string;
  try {
    out = execFileSync("kubectl", ["version", "--client", "-o", "json"], { encoding: "utf8" });
  } catch (err) {
    throw new Error(
      `kubectl is required to render deploy/k8s (kubectl >= 1.${MIN_KUBECTL_MINOR} with kustomize v${MIN_KUSTOMIZE_MAJOR}); ` +
        `running it failed: ${(err as Error).message}. Debian's kubernetes-client (1.20) is too old.`,
    );
  }
  const parsed = JSON.parse(out) as {
    clientVersion?: { major?: string; minor?: string; gitVersion?: string };
    kustomizeVersion?: string;
  };
  const minor = Number.parseInt(parsed.clientVersion?.minor ?? "0", 10);
  const kubectl = parsed.clientVersion?.gitVersion ?? "unknown";
  const kustomize = parsed.kustomizeVersion ?? "none";
  const kustomizeMajor = Number.parseInt(kustomize.replace(/^v/, ""), 10);
  if (parsed.clientVersion?.major !== "1" || minor < MIN_KUBECTL_MINOR || !(kustomizeMajor >= MIN_KUSTOMIZE_MAJOR)) {
    throw new Error(
      `kubectl ${kubectl} with kustomize ${kustomize} is too old: deploy/k8s needs kubectl >= 1.${MIN_KUBECTL_MINOR} ` +
        `and kustomize >= v${MIN_KUSTOMIZE_MAJOR}.`,
    );
  }
  return { kubectl, kustomize };
}

/** Renders an overlay with `kubectl kustomize` and parses every document. */
export function renderOverlay(dir: string): Manifest[] {
  const out = execFileSync("kubectl", ["kustomize", dir], { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 });
  return parseAllDocuments(out).map((doc) => {
    if (doc.errors.length > 0)
      throw new Error(`kubectl kustomize ${dir} printed invalid YAML: ${doc.errors[0].message}`);
    return doc.toJS() as Manifest;
  });
}
