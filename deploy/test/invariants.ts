import type { IIoK8sApiAppsV1Deployment } from "kubernetes-models/apps/v1/Deployment";
import type { IIoK8sApiAutoscalingV2HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import type { IIoK8sApiBatchV1Job } from "kubernetes-models/batch/v1/Job";
import type { IIoK8sApiNetworkingV1NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import type { IIoK8sApiNetworkingV1NetworkPolicyIngressRule } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicyIngressRule";
import type { IIoK8sApiPolicyV1PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import type { IIoK8sApiCoreV1ConfigMap } from "kubernetes-models/v1/ConfigMap";
import type { IIoK8sApiCoreV1Container } from "kubernetes-models/v1/Container";
import type { IIoK8sApiCoreV1PodSpec } from "kubernetes-models/v1/PodSpec";
import type { IIoK8sApiCoreV1Secret } from "kubernetes-models/v1/Secret";
import type { IIoK8sApiCoreV1Service } from "kubernetes-models/v1/Service";
import type { IIoK8sApiCoreV1ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import type { IIoK8sApimachineryPkgApisMetaV1LabelSelector as LabelSelector } from "@kubernetes-models/apimachinery/apis/meta/v1/LabelSelector";

/** Any rendered object; narrowed by kind below. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

export type Environment = "dev" | "prod";

interface ServiceFacts {
  port: number;
  metricsPort: number;
  /** Needs a database, hence a migration. */
  database: boolean;
  /** Secret-backed environment variables the process requires. */
  secrets: string[];
}

/** What see-me's four processes are (docs/conventions.md); the manifests must agree. */
export const SERVICES: Record<string, ServiceFacts> = {
  gateway: {
    port: 8080,
    metricsPort: 9100,
    database: false,
    secrets: ["INTERNAL_AUTH_SECRET", "SESSION_VERIFY_KEYS"],
  },
  identity: {
    port: 50051,
    metricsPort: 9101,
    database: true,
    secrets: ["INTERNAL_AUTH_SECRET", "IDENTITY_DATABASE_URL", "SESSION_SIGNING_KEY"],
  },
  connection: {
    port: 50052,
    metricsPort: 9102,
    database: true,
    secrets: ["INTERNAL_AUTH_SECRET", "CONNECTION_DATABASE_URL", "SERVER_SIGNING_KEY"],
  },
  location: {
    port: 50053,
    metricsPort: 9103,
    database: true,
    secrets: ["INTERNAL_AUTH_SECRET", "LOCATION_DATABASE_URL", "ADMIN_TOKEN", "VAPID_PUBLIC_KEY", "VAPID_PRIVATE_KEY"],
  },
};
/** Carry per-device traffic, so they autoscale. */
const HOT_SERVICES = ["gateway", "location"];
const NAME_LABEL = "app.kubernetes.io/name";
const DEFAULT_SHUTDOWN_TIMEOUT_MS = 8000;
/** Time after the service's own drain for NATS to drain and the process to exit. */
const EXIT_MARGIN_SECONDS = 5;
const WORKLOAD_KINDS = ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"];

const named = <T>(objects: Manifest[], kind: string): Array<T & Manifest> =>
  objects.filter((o) => o.kind === kind) as Array<T & Manifest>;

function podSpecOf(obj: Manifest): IIoK8sApiCoreV1PodSpec | undefined {
  const spec = obj.spec as {
    template?: { spec?: IIoK8sApiCoreV1PodSpec };
    jobTemplate?: { spec?: { template?: { spec?: IIoK8sApiCoreV1PodSpec } } };
  };
  if (obj.kind === "Pod") return obj.spec as IIoK8sApiCoreV1PodSpec;
  if (obj.kind === "CronJob") return spec?.jobTemplate?.spec?.template?.spec;
  return spec?.template?.spec;
}

function podLabelsOf(obj: Manifest): Record<string, string> {
  if (obj.kind === "Pod") return obj.metadata.labels ?? {};
  const spec = obj.spec as { template?: { metadata?: { labels?: Record<string, string> } } };
  return spec?.template?.metadata?.labels ?? {};
}

/** Kubernetes label-selector semantics (an empty selector matches everything). */
function selects(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return false;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (labels[key] !== value) return false;
  for (const expr of selector.matchExpressions ?? []) {
    const has = expr.key in labels;
    const inValues = has && (expr.values ?? []).includes(labels[expr.key]);
    if (expr.operator === "In" && !inValues) return false;
    if (expr.operator === "NotIn" && inValues) return false;
    if (expr.operator === "Exists" && !has) return false;
    if (expr.operator === "DoesNotExist" && has) return false;
  }
  return true;
}

/** Pinned means an explicit tag other than `latest`, or a sha256 digest. */
export function isPinned(image: string | undefined): boolean {
  if (!image) return false;
  const [ref, digest] = image.split("@");
  if (digest !== undefined) return /^sha256:[0-9a-f]{64}$/.test(digest);
  const lastSegment = ref.slice(ref.lastIndexOf("/") + 1);
  const colon = lastSegment.indexOf(":");
  if (colon < 0) return false;
  const tag = lastSegment.slice(colon + 1);
  return tag !== "" && tag !== "latest";
}

/** Environment value as the container will see it: `env` wins over `envFrom` ConfigMaps. */
function envValue(
  container: IIoK8sApiCoreV1Container,
  configMaps: Map<string, Record<string, string>>,
  name: string,
): string | undefined {
  const direct = container.env?.find((e) => e.name === name);
  if (direct) return direct.value;
  let value: string | undefined;
  for (const source of container.envFrom ?? []) {
    const data = source.configMapRef ? configMaps.get(source.configMapRef.name ?? "") : undefined;
    if (data && name in data) value = data[name];
  }
  return value;
}

function containerPort(container: IIoK8sApiCoreV1Container, port: number | string | undefined): number | undefined {
  if (typeof port === "number") return port;
  if (port === undefined) return undefined;
  if (/^\d+$/.test(port)) return Number(port);
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

function preStopSeconds(container: IIoK8sApiCoreV1Container): number | undefined {
  const preStop = container.lifecycle?.preStop;
  if (!preStop) return undefined;
  if (preStop.sleep) return preStop.sleep.seconds;
  const command = preStop.exec?.command ?? [];
  if (command[0] === "sleep" && command[1] !== undefined) return Number(command[1]);
  return 0;
}

function migrateArgs(service: string): string {
  return `scripts/dist/migrate.js deploy ${service}`;
}

function runs(container: IIoK8sApiCoreV1Container): string {
  return [...(container.command ?? []), ...(container.args ?? [])].join(" ");
}

/** Checks one container against the security, resource and image rules. */
function checkContainer(
  where: string,
  container: IIoK8sApiCoreV1Container,
  pod: IIoK8sApiCoreV1PodSpec,
  problems: string[],
): void {
  const at = `${where} container ${container.name}`;
  if (!isPinned(container.image)) problems.push(`${at}: image "${container.image}" is not pinned by tag or digest`);
  for (const kind of ["requests", "limits"] as const) {
    for (const resource of ["cpu", "memory"]) {
      if (container.resources?.[kind]?.[resource] === undefined)
        problems.push(`${at}: resources.${kind}.${resource} is missing`);
    }
  }
  const sc = container.securityContext ?? {};
  const podSc = pod.securityContext ?? {};
  if ((sc.runAsNonRoot ?? podSc.runAsNonRoot) !== true) problems.push(`${at}: runAsNonRoot is not true`);
  if ((sc.runAsUser ?? podSc.runAsUser) === 0) problems.push(`${at}: runs as UID 0`);
  if (sc.readOnlyRootFilesystem !== true) problems.push(`${at}: readOnlyRootFilesystem is not true`);
  if (sc.allowPrivilegeEscalation !== false) problems.push(`${at}: allowPrivilegeEscalation is not false`);
  if (sc.privileged === true) problems.push(`${at}: is privileged`);
  if (!(sc.capabilities?.drop ?? []).includes("ALL")) problems.push(`${at}: capabilities.drop does not include ALL`);
  if ((sc.capabilities?.add ?? []).length > 0)
    problems.push(`${at}: adds capabilities ${sc.capabilities?.add?.join(",")}`);
  if ((sc.seccompProfile ?? podSc.seccompProfile)?.type !== "RuntimeDefault")
    problems.push(`${at}: seccompProfile is not RuntimeDefault`);
}

/** Ingress rules from every NetworkPolicy that selects these pod labels. */
function ingressRulesFor(policies: IIoK8sApiNetworkingV1NetworkPolicy[], labels: Record<string, string>) {
  const selecting = policies.filter(
    (p) => selects(p.spec?.podSelector, labels) && (p.spec?.policyTypes ?? ["Ingress"]).includes("Ingress"),
  );
  return { selecting, rules: selecting.flatMap((p) => p.spec?.ingress ?? []) };
}

/** Resolves a rule's ports to numbers on this container; undefined means every port. */
function rulePorts(
  rule: IIoK8sApiNetworkingV1NetworkPolicyIngressRule,
  container: IIoK8sApiCoreV1Container,
): number[] | undefined {
  if (!rule.ports || rule.ports.length === 0) return undefined;
  return rule.ports.map((p) => containerPort(container, p.port) ?? -1);
}

/** A podSelector-only peer that picks see-me server pods (not "any pod in the namespace"). */
function selectsOnlySeeMeServers(selector: LabelSelector): boolean {
  const allowed = Object.keys(SERVICES);
  const byLabel = selector.matchLabels?.[NAME_LABEL];
  if (byLabel !== undefined) return allowed.includes(byLabel);
  const expr = selector.matchExpressions?.find((e) => e.key === NAME_LABEL && e.operator === "In");
  return expr !== undefined && (expr.values ?? []).length > 0 && (expr.values ?? []).every((v) => allowed.includes(v));
}

function checkNetworkPolicies(objects: Manifest[], problems: string[]): void {
  const policies = named<IIoK8sApiNetworkingV1NetworkPolicy>(objects, "NetworkPolicy");
  const denyAll = policies.some(
    (p) =>
      Object.keys(p.spec?.podSelector ?? { x: 1 }).length === 0 &&
      (p.spec?.policyTypes ?? []).includes("Ingress") &&
      (p.spec?.ingress ?? []).length === 0,
  );
  if (!denyAll) problems.push("NetworkPolicy: no default-deny ingress policy for the namespace");

  for (const deployment of named<IIoK8sApiAppsV1Deployment>(objects, "Deployment")) {
    const name = deployment.metadata.name;
    const facts = SERVICES[name];
    const pod = podSpecOf(deployment);
    const main = pod?.containers.find((c) => c.name === name) ?? pod?.containers[0];
    if (!facts || !main) continue;
    const { selecting, rules } = ingressRulesFor(policies, podLabelsOf(deployment));
    const own = selecting.filter((p) => Object.keys(p.spec?.podSelector ?? {}).length > 0);
    if (own.length === 0) {
      problems.push(`${name}: no NetworkPolicy selects its pods`);
      continue;
    }
    const publicPorts = name === "gateway" ? [facts.port] : [];
    let reachableFromGateway = false;
    let publiclyReachable = false;
    for (const rule of rules) {
      const ports = rulePorts(rule, main);
      const peers = rule.from ?? [];
      const everyone = peers.length === 0 || peers.some((peer) => peer.ipBlock !== undefined);
      const otherNamespaces = peers.some((peer) => peer.namespaceSelector !== undefined);
      if (everyone) {
        if (!ports || ports.some((p) => !publicPorts.includes(p))) {
          problems.push(`${name}: ingress open to everyone on port ${ports?.join(",") ?? "(all)"}`);
        } else publiclyReachable = true;
      } else if (otherNamespaces) {
        if (!ports || ports.some((p) => p !== facts.metricsPort)) {
          problems.push(
            `${name}: ingress from other namespaces on port ${ports?.join(",") ?? "(all)"} (only metrics ${facts.metricsPort} may be scraped)`,
          );
        }
      } else {
        for (const peer of peers) {
          if (!peer.podSelector || !selectsOnlySeeMeServers(peer.podSelector)) {
            problems.push(`${name}: ingress from pods other than see-me servers`);
          } else if (selects(peer.podSelector, { [NAME_LABEL]: "gateway" }) && (!ports || ports.includes(facts.port))) {
            reachableFromGateway = true;
          }
        }
      }
    }
    if (name === "gateway" && !publiclyReachable)
      problems.push(`gateway: port ${facts.port} is not reachable from outside`);
    if (name !== "gateway" && !reachableFromGateway)
      problems.push(`${name}: the gateway cannot reach port ${facts.port}`);
  }
}

function checkDeployment(
  deployment: IIoK8sApiAppsV1Deployment & Manifest,
  objects: Manifest[],
  configMaps: Map<string, Record<string, string>>,
  env: Environment,
  problems: string[],
): void {
  const name = deployment.metadata.name;
  const facts = SERVICES[name];
  if (!facts) {
    problems.push(`Deployment/${name}: not one of the see-me services (${Object.keys(SERVICES).join(", ")})`);
    return;
  }
  const pod = podSpecOf(deployment);
  const main = pod?.containers.find((c) => c.name === name);
  if (!pod || !main) {
    problems.push(`Deployment/${name}: no container named ${name}`);
    return;
  }
  const labels = podLabelsOf(deployment);

  // Probes: native gRPC health for the gRPC services, HTTP for the gateway.
  // Readiness follows dependencies; liveness must not (a restart cannot fix a
  // down database), so it asks the "liveness" health name or /livez.
  for (const probeName of ["readinessProbe", "livenessProbe"] as const) {
    const probe = main[probeName];
    const liveness = probeName === "livenessProbe";
    if (!probe) {
      problems.push(`Deployment/${name}: ${probeName} is missing`);
    } else if (name === "gateway") {
      const path = liveness ? "/livez" : "/healthz";
      if (probe.httpGet?.path !== path || containerPort(main, probe.httpGet.port) !== facts.port) {
        problems.push(`Deployment/${name}: ${probeName} must be HTTP GET ${path} on ${facts.port}`);
      }
    } else if (probe.grpc?.port !== facts.port) {
      problems.push(`Deployment/${name}: ${probeName} must be a gRPC health probe on ${facts.port}`);
    } else if ((probe.grpc.service ?? "") !== (liveness ? "liveness" : "")) {
      problems.push(`Deployment/${name}: ${probeName} must check health service "${liveness ? "liveness" : ""}"`);
    }
  }

  // Graceful shutdown: preStop, then SIGTERM → drain SHUTDOWN_TIMEOUT_MS, then NATS drain.
  const preStop = preStopSeconds(main);
  if (preStop === undefined)
    problems.push(`Deployment/${name}: no preStop hook to let endpoints update before SIGTERM`);
  const shutdownMs = Number(envValue(main, configMaps, "SHUTDOWN_TIMEOUT_MS") ?? DEFAULT_SHUTDOWN_TIMEOUT_MS);
  const needed = (preStop ?? 0) + Math.ceil(shutdownMs / 1000) + EXIT_MARGIN_SECONDS;
  const grace = pod.terminationGracePeriodSeconds ?? 30;
  if (grace < needed) {
    problems.push(
      `Deployment/${name}: terminationGracePeriodSeconds ${grace} < ${needed} (preStop + SHUTDOWN_TIMEOUT_MS + ${EXIT_MARGIN_SECONDS} s)`,
    );
  }

  // Zero-downtime rollout.
  const rolling = deployment.spec?.strategy?.rollingUpdate;
  if (
    deployment.spec?.strategy?.type === "Recreate" ||
    !rolling ||
    !(rolling.maxUnavailable === 0 || rolling.maxUnavailable === "0%")
  ) {
    problems.push(`Deployment/${name}: rollout must be RollingUpdate with maxUnavailable 0`);
  }

  // Secrets come from Secrets, never literal values.
  for (const variable of facts.secrets) {
    const entry = main.env?.find((e) => e.name === variable);
    if (!entry?.valueFrom?.secretKeyRef) problems.push(`Deployment/${name}: ${variable} must come from a secretKeyRef`);
  }

  // JetStream replication and subject prefix per environment.
  const replicas = envValue(main, configMaps, "NATS_STREAM_REPLICAS");
  const wantReplicas = env === "prod" ? "3" : "1";
  if (replicas !== wantReplicas)
    problems.push(`Deployment/${name}: NATS_STREAM_REPLICAS is ${replicas ?? "unset"}, want ${wantReplicas} in ${env}`);
  if (env === "prod" && envValue(main, configMaps, "NATS_SUBJECT_PREFIX")) {
    problems.push(`Deployment/${name}: NATS_SUBJECT_PREFIX must be unset in production`);
  }

  // A Service in front of it.
  const services = named<IIoK8sApiCoreV1Service>(objects, "Service").filter(
    (s) => s.spec?.selector && selects({ matchLabels: s.spec.selector }, labels),
  );
  if (services.length === 0) problems.push(`Deployment/${name}: no Service selects its pods`);
  for (const service of services) {
    const type = service.spec?.type ?? "ClusterIP";
    if (name !== "gateway" && type !== "ClusterIP")
      problems.push(`Service/${service.metadata.name}: type ${type} exposes an internal service`);
    // Headless, so a grpc-js dns:/// target sees every replica and round-robins
    // (a virtual IP pins each channel to one pod).
    if (name !== "gateway" && service.spec?.clusterIP !== "None") {
      const what = "an internal Service must be headless (clusterIP: None) for client-side round-robin";
      problems.push(`Service/${service.metadata.name}: ${what}`);
    }
  }
  if (name !== "gateway") {
    const variable = `${name.toUpperCase()}_ADDR`;
    const address = envValue(main, configMaps, variable);
    if (!address?.startsWith(`dns:///${name}:`)) {
      problems.push(`${variable} is ${address ?? "unset"}, want dns:///${name}:<port> (every replica)`);
    }
  }
  // Replicas spread over nodes and zones, so losing one of either leaves some serving.
  for (const key of ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]) {
    if (!pod.topologySpreadConstraints?.some((c) => c.topologyKey === key && c.maxSkew === 1)) {
      problems.push(`Deployment/${name}: no topology spread over ${key}`);
    }
  }

  // Survive node drains: a PDB that still lets one pod go.
  const hpa = named<IIoK8sApiAutoscalingV2HorizontalPodAutoscaler>(objects, "HorizontalPodAutoscaler").find(
    (h) => h.spec?.scaleTargetRef.kind === "Deployment" && h.spec.scaleTargetRef.name === name,
  );
  const minReplicas = hpa ? (hpa.spec?.minReplicas ?? 1) : (deployment.spec?.replicas ?? 1);
  const pdbs = named<IIoK8sApiPolicyV1PodDisruptionBudget>(objects, "PodDisruptionBudget").filter((p) =>
    selects(p.spec?.selector, labels),
  );
  if (pdbs.length === 0) problems.push(`Deployment/${name}: no PodDisruptionBudget`);
  for (const pdb of pdbs) {
    const { maxUnavailable, minAvailable } = pdb.spec ?? {};
    const blocks =
      maxUnavailable !== undefined
        ? maxUnavailable === 0 || maxUnavailable === "0%"
        : typeof minAvailable === "number"
          ? minAvailable >= minReplicas
          : minAvailable === "100%";
    if (blocks) problems.push(`PodDisruptionBudget/${pdb.metadata.name}: allows no disruption, so node drains hang`);
  }
  if (env === "prod" && minReplicas < 2)
    problems.push(`Deployment/${name}: fewer than 2 replicas in production cannot survive a node drain`);

  // Autoscaling for the hot services.
  if (HOT_SERVICES.includes(name)) {
    if (!hpa) {
      problems.push(`Deployment/${name}: no HorizontalPodAutoscaler`);
    } else {
      if (deployment.spec?.replicas !== undefined)
        problems.push(`Deployment/${name}: sets replicas although its HorizontalPodAutoscaler owns them`);
      if ((hpa.spec?.maxReplicas ?? 0) <= (hpa.spec?.minReplicas ?? 1))
        problems.push(`HorizontalPodAutoscaler/${name}: maxReplicas must exceed minReplicas`);
      if (!hpa.spec?.metrics?.some((m) => m.type === "Resource" && m.resource?.name === "cpu")) {
        problems.push(`HorizontalPodAutoscaler/${name}: no CPU metric`);
      }
    }
  }

  // Migrations: one path, the Job. No initContainer migrates, and the service itself
  // does not migrate at start (MIGRATE_ON_START off), so a schema changes once per rollout.
  if (facts.database) {
    const command = migrateArgs(name);
    const job = named<IIoK8sApiBatchV1Job>(objects, "Job").find((j) =>
      (j.spec?.template.spec?.containers ?? []).some((c) => runs(c) === command),
    );
    if (!job) problems.push(`Deployment/${name}: no migration Job running "${command}"`);
    else if (!job.spec?.template.spec?.containers.every((c) => c.image === main.image)) {
      problems.push(`Job/${job.metadata.name}: image differs from Deployment/${name}`);
    }
    for (const container of [...(pod.initContainers ?? []), ...pod.containers]) {
      if (runs(container).includes("migrate"))
        problems.push(`Deployment/${name}: container ${container.name} migrates; only the Job may`);
    }
  }
  const migrateOnStart = envValue(main, configMaps, "MIGRATE_ON_START");
  if (facts.database && migrateOnStart !== "false") {
    problems.push(
      `Deployment/${name}: MIGRATE_ON_START is "${migrateOnStart ?? "unset"}", must be "false" (the Job migrates)`,
    );
  }
}

/**
 * Every production rule the issue asks for, checked on a rendered overlay.
 * Returns human-readable problems; an empty list means the overlay complies.
 */
export function checkInvariants(objects: Manifest[], env: Environment): string[] {
  const problems: string[] = [];
  const configMaps = new Map(
    named<IIoK8sApiCoreV1ConfigMap>(objects, "ConfigMap").map((c) => [c.metadata.name, c.data ?? {}]),
  );
  const secrets = named<IIoK8sApiCoreV1Secret>(objects, "Secret");
  const accounts = new Map(
    named<IIoK8sApiCoreV1ServiceAccount>(objects, "ServiceAccount").map((a) => [a.metadata.name, a]),
  );

  // Every Deployment the system needs is there.
  const deployments = named<IIoK8sApiAppsV1Deployment>(objects, "Deployment");
  for (const service of Object.keys(SERVICES)) {
    if (!deployments.some((d) => d.metadata.name === service)) problems.push(`Deployment/${service}: missing`);
  }

  // Pod-level and container-level rules on every workload, Jobs included.
  for (const workload of objects.filter((o) => WORKLOAD_KINDS.includes(o.kind))) {
    const where = `${workload.kind}/${workload.metadata.name}`;
    const pod = podSpecOf(workload);
    if (!pod) {
      problems.push(`${where}: no pod template`);
      continue;
    }
    const account = accounts.get(pod.serviceAccountName ?? "");
    if (!account) problems.push(`${where}: serviceAccountName "${pod.serviceAccountName ?? ""}" has no ServiceAccount`);
    if ((pod.automountServiceAccountToken ?? account?.automountServiceAccountToken) !== false) {
      problems.push(`${where}: mounts a service account token it does not need`);
    }
    if (pod.hostNetwork || pod.hostPID || pod.hostIPC) problems.push(`${where}: shares a host namespace`);
    for (const container of [...(pod.initContainers ?? []), ...pod.containers]) {
      checkContainer(where, container, pod, problems);
      for (const source of container.envFrom ?? []) {
        if (source.configMapRef && !configMaps.has(source.configMapRef.name ?? "")) {
          problems.push(
            `${where} container ${container.name}: ConfigMap ${source.configMapRef.name} is not in the overlay`,
          );
        }
      }
      for (const entry of container.env ?? []) {
        const ref = entry.valueFrom?.secretKeyRef;
        if (!ref) continue;
        // Production Secrets are created by the operator; dev ships generated ones.
        if (env === "dev" && !secrets.some((s) => s.metadata.name === ref.name && ref.key in (s.data ?? {}))) {
          problems.push(
            `${where} container ${container.name}: Secret ${ref.name} key ${ref.key} is not in the overlay`,
          );
        }
      }
    }
  }

  for (const deployment of deployments) checkDeployment(deployment, objects, configMaps, env, problems);
  checkNetworkPolicies(objects, problems);

  // Secure by default: production commits no secret values; the namespace enforces "restricted".
  if (env === "prod")
    for (const secret of secrets)
      problems.push(`Secret/${secret.metadata.name}: production must not commit Secret values`);
  const namespaces = objects.filter((o) => o.kind === "Namespace");
  if (namespaces.length !== 1) problems.push(`Namespace: expected exactly one, found ${namespaces.length}`);
  for (const ns of namespaces) {
    if (ns.metadata.labels?.["pod-security.kubernetes.io/enforce"] !== "restricted") {
      problems.push(`Namespace/${ns.metadata.name}: Pod Security "restricted" is not enforced`);
    }
    for (const obj of objects) {
      if (obj.kind !== "Namespace" && obj.metadata.namespace !== ns.metadata.name) {
        problems.push(`${obj.kind}/${obj.metadata.name}: not in namespace ${ns.metadata.name}`);
      }
    }
  }
  // An Ingress, if an overlay adds one, may route only to the gateway.
  for (const ingress of objects.filter((o) => o.kind === "Ingress")) {
    const backends = JSON.stringify(ingress.spec).match(/"service":\{"name":"[^"]+"/g) ?? [];
    if (backends.length === 0 || backends.some((b) => !b.endsWith('"gateway"'))) {
      problems.push(`Ingress/${ingress.metadata.name}: routes to something other than the gateway Service`);
    }
  }
  return problems;
}
