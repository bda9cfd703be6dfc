import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { validate as lintDockerfile } from "dockerfile-utils";
import type { IIoK8sApiAppsV1Deployment } from "kubernetes-models/apps/v1/Deployment";
import type { IIoK8sApiCoreV1PodSpec } from "kubernetes-models/v1/PodSpec";
import { JEMALLOC_CONF } from "@seeme/runtime/allocator";
import { publicKeyOf, readSessionVerifyKeys } from "@seeme/runtime/session-token";
import { checkInvariants, isPinned, SERVICES, type Environment, type Manifest } from "./invariants.js";
import { kubectlVersions, renderOverlay } from "./render.js";
import { schemaProblems } from "./schema.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const overlays: Environment[] = ["dev", "prod"];
const rendered = new Map<Environment, Manifest[]>();

beforeAll(() => {
  // Throws with what to install when kubectl/kustomize are missing or too old.
  kubectlVersions();
  for (const env of overlays) rendered.set(env, renderOverlay(join(root, "deploy/k8s/overlays", env)));
});

const render = (env: Environment): Manifest[] => structuredClone(rendered.get(env) ?? []);
const find = (objects: Manifest[], kind: string, name: string): Manifest => {
  const obj = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!obj) throw new Error(`${kind}/${name} not rendered`);
  return obj;
};
const podOf = (objects: Manifest[], kind: string, name: string): IIoK8sApiCoreV1PodSpec => {
  const spec = (find(objects, kind, name) as IIoK8sApiAppsV1Deployment).spec?.template.spec;
  if (!spec) throw new Error(`${kind}/${name} has no pod template`);
  return spec;
};
const remove = (objects: Manifest[], kind: string, name: string): Manifest[] =>
  objects.filter((o) => !(o.kind === kind && o.metadata.name === name));

describe("kubectl", () => {
  test("is new enough to render the overlays", () => {
    const versions = kubectlVersions();
    expect(versions.kubectl).toMatch(/^v1\.\d+/);
    expect(versions.kustomize).toMatch(/^v[5-9]\./);
  });
});

describe.each(overlays)("overlay %s", (env) => {
  test("renders every object the system needs", () => {
    const kinds = render(env).map((o) => `${o.kind}/${o.metadata.name}`);
    for (const service of Object.keys(SERVICES)) {
      for (const kind of ["Deployment", "Service", "ServiceAccount", "PodDisruptionBudget", "NetworkPolicy"]) {
        expect(kinds).toContain(`${kind}/${service}`);
      }
    }
    expect(kinds).toEqual(
      expect.arrayContaining(["HorizontalPodAutoscaler/gateway", "HorizontalPodAutoscaler/location"]),
    );
    expect(kinds).toEqual(
      expect.arrayContaining(["Job/identity-migrate", "Job/connection-migrate", "Job/location-migrate"]),
    );
  });

  test("every object is valid against the Kubernetes schemas", async () => {
    // One at a time: jest's ESM loader races when the same modules load concurrently.
    const problems: string[] = [];
    for (const obj of render(env)) problems.push(...(await schemaProblems(obj)));
    expect(problems).toEqual([]);
  });

  test("meets every production invariant", () => {
    expect(checkInvariants(render(env), env)).toEqual([]);
  });
});

test("internal Services are headless and addressed by dns:///; Deployments spread over nodes and zones", () => {
  const objects = render("prod");
  const service = find(objects, "Service", "location") as Manifest & { spec: { clusterIP?: string } };
  delete service.spec.clusterIP;
  const config = objects.find(
    (o) => o.kind === "ConfigMap" && o.metadata.name.startsWith("see-me-config-"),
  ) as Manifest & {
    data: Record<string, string>;
  };
  config.data.IDENTITY_ADDR = "identity:50051";
  podOf(objects, "Deployment", "gateway").topologySpreadConstraints = [];
  expect(checkInvariants(objects, "prod").sort()).toEqual([
    "Deployment/gateway: no topology spread over kubernetes.io/hostname",
    "Deployment/gateway: no topology spread over topology.kubernetes.io/zone",
    "IDENTITY_ADDR is identity:50051, want dns:///identity:<port> (every replica)",
    "Service/location: an internal Service must be headless (clusterIP: None) for client-side round-robin",
  ]);
});

test("the schema check rejects an invalid object", async () => {
  const deployment = find(render("prod"), "Deployment", "identity") as IIoK8sApiAppsV1Deployment & Manifest;
  (deployment.spec as { replicas: unknown }).replicas = "two";
  expect(await schemaProblems(deployment)).toEqual([expect.stringContaining("replicas must be integer")]);
  expect(await schemaProblems({ apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" } })).toEqual([
    expect.stringContaining("no Kubernetes schema"),
  ]);
});

test("production and dev differ where they must", () => {
  const config = (env: Environment) =>
    (
      render(env).find((o) => o.kind === "ConfigMap" && o.metadata.name.startsWith("see-me-config-")) as Manifest & {
        data: Record<string, string>;
      }
    ).data;
  expect(config("prod").NATS_STREAM_REPLICAS).toBe("3");
  expect(config("dev").NATS_STREAM_REPLICAS).toBe("1");
  expect(config("prod")).not.toHaveProperty("NATS_SUBJECT_PREFIX");
  expect(render("prod").filter((o) => o.kind === "Secret")).toEqual([]);
  expect(render("dev").filter((o) => o.kind === "Secret").length).toBe(5);
});

test("dev: the gateways' SESSION_VERIFY_KEYS holds the public half of identity's SESSION_SIGNING_KEY", () => {
  const secret = (prefix: string) =>
    (
      render("dev").find((o) => o.kind === "Secret" && o.metadata.name.startsWith(prefix)) as Manifest & {
        data: Record<string, string>;
      }
    ).data;
  const decode = (value: string) => Buffer.from(value, "base64").toString();
  const seed = new Uint8Array(Buffer.from(decode(secret("identity-secrets-").SESSION_SIGNING_KEY), "base64"));
  const keys = readSessionVerifyKeys({ SESSION_VERIFY_KEYS: decode(secret("gateway-secrets-").SESSION_VERIFY_KEYS) });
  expect(keys.map((key) => Buffer.from(key).toString("base64"))).toContain(
    Buffer.from(publicKeyOf(seed)).toString("base64"),
  );
});

test("the first apply phase in docs/deploy.md selects the migration Jobs and no Deployment", () => {
  // `kubectl apply -l 'app.kubernetes.io/component notin (server)'`: notin also matches unlabelled objects.
  const phaseOne = render("prod").filter((o) => o.metadata.labels?.["app.kubernetes.io/component"] !== "server");
  const kinds = phaseOne.map((o) => o.kind);
  expect(kinds).not.toContain("Deployment");
  expect(phaseOne.filter((o) => o.kind === "Job").length).toBe(3);
  expect(kinds).toEqual(expect.arrayContaining(["Namespace", "ConfigMap", "ServiceAccount"]));
});

/**
 * Each mutation breaks one rule on a correct production render; the checker must
 * name it. This proves the invariant checks can fail.
 */
const mutations: Array<[string, (objects: Manifest[]) => Manifest[], RegExp]> = [
  [
    "readiness probe removed",
    (o) => (delete podOf(o, "Deployment", "identity").containers[0].readinessProbe, o),
    /Deployment\/identity: readinessProbe is missing/,
  ],
  [
    "liveness probe removed",
    (o) => (delete podOf(o, "Deployment", "gateway").containers[0].livenessProbe, o),
    /Deployment\/gateway: livenessProbe is missing/,
  ],
  [
    "liveness probe follows dependencies",
    (o) => ((podOf(o, "Deployment", "connection").containers[0].livenessProbe = { grpc: { port: 50052 } }), o),
    /Deployment\/connection: livenessProbe must check health service "liveness"/,
  ],
  [
    "probe on the wrong port",
    (o) => ((podOf(o, "Deployment", "location").containers[0].readinessProbe = { grpc: { port: 50051 } }), o),
    /Deployment\/location: readinessProbe must be a gRPC health probe on 50053/,
  ],
  [
    "PodDisruptionBudget removed",
    (o) => remove(o, "PodDisruptionBudget", "connection"),
    /Deployment\/connection: no PodDisruptionBudget/,
  ],
  [
    "PodDisruptionBudget that blocks drains",
    (o) => (((find(o, "PodDisruptionBudget", "identity").spec as { maxUnavailable: number }).maxUnavailable = 0), o),
    /PodDisruptionBudget\/identity: allows no disruption/,
  ],
  [
    "HPA removed",
    (o) => remove(o, "HorizontalPodAutoscaler", "location"),
    /Deployment\/location: no HorizontalPodAutoscaler/,
  ],
  [
    "replicas set on an autoscaled Deployment",
    (o) => (((find(o, "Deployment", "gateway").spec as { replicas: number }).replicas = 3), o),
    /Deployment\/gateway: sets replicas although its HorizontalPodAutoscaler owns them/,
  ],
  [
    "service NetworkPolicy removed",
    (o) => remove(o, "NetworkPolicy", "identity"),
    /identity: no NetworkPolicy selects its pods/,
  ],
  ["default-deny removed", (o) => remove(o, "NetworkPolicy", "default-deny-ingress"), /no default-deny ingress policy/],
  [
    "internal service opened to everyone",
    (o) => {
      const spec = find(o, "NetworkPolicy", "location").spec as { ingress: Array<{ from?: unknown }> };
      delete spec.ingress[0].from;
      return o;
    },
    /location: ingress open to everyone on port 50053/,
  ],
  [
    "internal service opened to another namespace",
    (o) => {
      const spec = find(o, "NetworkPolicy", "connection").spec as { ingress: Array<{ from: unknown[] }> };
      spec.ingress[0].from = [{ namespaceSelector: {} }];
      return o;
    },
    /connection: ingress from other namespaces on port 50052/,
  ],
  [
    "internal Service exposed as a LoadBalancer",
    (o) => (((find(o, "Service", "location").spec as { type: string }).type = "LoadBalancer"), o),
    /Service\/location: type LoadBalancer exposes an internal service/,
  ],
  [
    "image on latest",
    (o) => ((podOf(o, "Job", "location-migrate").containers[0].image = "see-me:latest"), o),
    /Job\/location-migrate container migrate: image "see-me:latest" is not pinned/,
  ],
  [
    "image without tag",
    (o) => ((podOf(o, "Deployment", "gateway").containers[0].image = "registry.example.com/see-me/see-me"), o),
    /not pinned by tag or digest/,
  ],
  [
    "writable root filesystem",
    (o) => ((podOf(o, "Deployment", "gateway").containers[0].securityContext!.readOnlyRootFilesystem = false), o),
    /Deployment\/gateway container gateway: readOnlyRootFilesystem is not true/,
  ],
  [
    "capabilities not dropped on a migration Job",
    (o) => (delete podOf(o, "Job", "connection-migrate").containers[0].securityContext!.capabilities, o),
    /Job\/connection-migrate container migrate: capabilities.drop does not include ALL/,
  ],
  [
    "privilege escalation allowed",
    (o) => (delete podOf(o, "Deployment", "identity").containers[0].securityContext!.allowPrivilegeEscalation, o),
    /Deployment\/identity container identity: allowPrivilegeEscalation is not false/,
  ],
  [
    "runAsNonRoot removed",
    (o) => {
      const pod = podOf(o, "Deployment", "location");
      delete pod.securityContext!.runAsNonRoot;
      delete pod.containers[0].securityContext!.runAsNonRoot;
      return o;
    },
    /Deployment\/location container location: runAsNonRoot is not true/,
  ],
  [
    "memory limit removed",
    (o) => (delete podOf(o, "Deployment", "identity").containers[0].resources!.limits!.memory, o),
    /resources.limits.memory is missing/,
  ],
  ["migration Job removed", (o) => remove(o, "Job", "identity-migrate"), /Deployment\/identity: no migration Job/],
  [
    "a migrate initContainer besides the Job",
    (o) => {
      const pod = podOf(o, "Deployment", "connection");
      pod.initContainers = [{ ...podOf(o, "Job", "connection-migrate").containers[0] }];
      return o;
    },
    /Deployment\/connection: container migrate migrates; only the Job may/,
  ],
  [
    "migrating at service start",
    (o) => {
      const config = o.find(
        (c) => c.kind === "ConfigMap" && c.metadata.name.startsWith("see-me-config-"),
      ) as Manifest & { data: Record<string, string> };
      config.data.MIGRATE_ON_START = "true";
      return o;
    },
    /Deployment\/identity: MIGRATE_ON_START is "true", must be "false"/,
  ],
  [
    "grace period shorter than the drain",
    (o) => ((podOf(o, "Deployment", "location").terminationGracePeriodSeconds = 10), o),
    /Deployment\/location: terminationGracePeriodSeconds 10 < 18/,
  ],
  [
    "preStop removed",
    (o) => (delete podOf(o, "Deployment", "gateway").containers[0].lifecycle, o),
    /Deployment\/gateway: no preStop hook/,
  ],
  [
    "single JetStream replica in production",
    (o) => {
      const config = o.find(
        (c) => c.kind === "ConfigMap" && c.metadata.name.startsWith("see-me-config-"),
      ) as Manifest & { data: Record<string, string> };
      config.data.NATS_STREAM_REPLICAS = "1";
      return o;
    },
    /NATS_STREAM_REPLICAS is 1, want 3 in prod/,
  ],
  [
    "a secret as a literal value",
    (o) => (
      (podOf(o, "Deployment", "location").containers[0].env!.find((e) => e.name === "ADMIN_TOKEN")!.valueFrom =
        undefined),
      o
    ),
    /Deployment\/location: ADMIN_TOKEN must come from a secretKeyRef/,
  ],
  [
    "a committed production Secret",
    (o) => [...o, { apiVersion: "v1", kind: "Secret", metadata: { name: "leak", namespace: "see-me" }, data: {} }],
    /Secret\/leak: production must not commit Secret values/,
  ],
  ["a Deployment removed", (o) => remove(o, "Deployment", "connection"), /Deployment\/connection: missing/],
];

test.each(mutations)("the invariant checker catches: %s", (_name, mutate, expected) => {
  const problems = checkInvariants(mutate(render("prod")), "prod");
  expect(problems).toEqual(expect.arrayContaining([expect.stringMatching(expected)]));
});

test("pinned images are told apart from floating ones", () => {
  expect(isPinned("registry.example.com:5000/see-me/see-me:0.1.0")).toBe(true);
  expect(isPinned(`see-me@sha256:${"a".repeat(64)}`)).toBe(true);
  expect(isPinned("registry.example.com:5000/see-me/see-me")).toBe(false);
  expect(isPinned("see-me:latest")).toBe(false);
  expect(isPinned("see-me@sha256:short")).toBe(false);
});

describe("Dockerfile", () => {
  const dockerfile = readFileSync(join(root, "Dockerfile"), "utf8");
  const instructions = dockerfile.split("\n").filter((line) => /^[A-Z]+\s/.test(line));

  test("passes dockerfile-utils lint", () => {
    expect(lintDockerfile(dockerfile).map((d) => `${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
  });

  test("is multi-stage, pins its base image and runs as a numeric non-root user", () => {
    const froms = instructions.filter((line) => line.startsWith("FROM "));
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const from of froms) expect(isPinned(from.split(/\s+/)[1])).toBe(true);
    const users = instructions.filter((line) => line.startsWith("USER "));
    expect(users.at(-1)).toMatch(/^USER [1-9]\d*(:[1-9]\d*)?$/);
  });

  test("runs compiled JavaScript from dist/ with plain node, the entry points the manifests name included", () => {
    const entrypoint = instructions.filter((line) => line.startsWith("ENTRYPOINT ")).at(-1)!;
    const cmd = instructions.filter((line) => line.startsWith("CMD ")).at(-1)!;
    const argv = [
      ...JSON.parse(entrypoint.slice("ENTRYPOINT ".length)),
      ...JSON.parse(cmd.slice("CMD ".length)),
    ] as string[];
    expect(argv[0]).toBe("node");
    expect(argv.slice(1).filter((arg) => arg.startsWith("-"))).toEqual([]);
    expect(dockerfile).not.toMatch(/\btsx\b/);
    const scripts = [
      argv[1],
      ...render("prod").flatMap((o) => {
        const pod = (o as { spec?: { template?: { spec?: IIoK8sApiCoreV1PodSpec } } }).spec?.template?.spec;
        return pod ? [...(pod.initContainers ?? []), ...pod.containers].map((c) => c.args?.[0] ?? "") : [];
      }),
    ];
    expect(scripts.length).toBeGreaterThan(4);
    for (const script of scripts) {
      // <workspace>/dist/<file>.js is compiled from <workspace>/src/<file>.ts (scripts/: scripts/<file>.ts).
      expect(script).toMatch(/^(services\/[a-z-]+|packages\/[a-z-]+|scripts)\/dist\/[a-z-/]+\.js$/);
      const source = script
        .replace(/^scripts\/dist\//, "scripts/")
        .replace("/dist/", "/src/")
        .replace(/\.js$/, ".ts");
      expect(existsSync(join(root, source))).toBe(true);
    }
  });

  test("runs the services on jemalloc with the decay settings the local runs use", () => {
    expect(dockerfile).toMatch(/apt-get install -y --no-install-recommends libjemalloc2/);
    const env = instructions.filter((line) => line.startsWith("ENV ")).join(" ");
    expect(env).toContain("LD_PRELOAD=/usr/local/lib/libjemalloc.so.2");
    // The same MALLOC_CONF as allocatorEnv() gives `npm start`, bench, chaos and fuzz runs.
    expect(env).toContain(`MALLOC_CONF=${JEMALLOC_CONF}`);
  });

  test(".dockerignore keeps local state and secrets out of the build context", () => {
    const ignored = readFileSync(join(root, ".dockerignore"), "utf8").split("\n");
    expect(ignored).toEqual(expect.arrayContaining([".git", "node_modules", ".data", "**/db/generated"]));
  });
});

test("docs/deploy.md names every Secret and key the manifests reference", () => {
  const docs = readFileSync(join(root, "docs/deploy.md"), "utf8");
  const refs: Array<{ name: string; key: string }> = [];
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === "object") {
      for (const [field, inner] of Object.entries(value)) {
        if (field === "secretKeyRef") refs.push(inner as { name: string; key: string });
        else walk(inner);
      }
    }
  };
  render("prod").forEach(walk);
  expect(refs.length).toBeGreaterThan(0);
  for (const { name, key } of refs) {
    expect(docs).toContain(`\`${name}\``);
    expect(docs).toContain(`\`${key}\``);
  }
});
