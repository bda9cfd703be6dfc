import type { BenchResults } from "../suite.js";

interface Bar {
  label: string;
  value: number;
  color: string;
}

const escapeXml = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const COLORS = {
  seeme: "#d9480f",
  postgres: "#1971c2",
  nats: "#2f9e44",
  handler: "#7048e8",
  p50: "#f08c00",
  p99: "#c92a2a",
};

/** Horizontal bars on a log scale (throughputs span four orders of magnitude). */
function throughputPanel(bars: Bar[], top: number, width: number): { svg: string; height: number } {
  const left = 290;
  const barHeight = 18;
  const plot = width - left - 90;
  const max = Math.max(...bars.map((bar) => bar.value), 10);
  const decades = Math.ceil(Math.log10(max));
  const x = (value: number) => (value <= 1 ? 0 : (Math.log10(value) / decades) * plot);
  const parts = [
    `<text x="10" y="${top}" font-size="15" font-weight="bold">Throughput (packets, rows or messages per second, log scale)</text>`,
  ];
  for (let d = 0; d <= decades; d++) {
    const gx = left + (d / decades) * plot;
    parts.push(
      `<line x1="${gx}" y1="${top + 10}" x2="${gx}" y2="${top + 14 + bars.length * (barHeight + 6)}" stroke="#ddd"/>`,
    );
    parts.push(
      `<text x="${gx}" y="${top + 26 + bars.length * (barHeight + 6)}" font-size="10" text-anchor="middle">${(10 ** d).toLocaleString("en")}</text>`,
    );
  }
  bars.forEach((bar, i) => {
    const y = top + 14 + i * (barHeight + 6);
    parts.push(`<text x="${left - 8}" y="${y + 13}" font-size="12" text-anchor="end">${escapeXml(bar.label)}</text>`);
    parts.push(
      `<rect x="${left}" y="${y}" width="${Math.max(1, x(bar.value)).toFixed(1)}" height="${barHeight}" fill="${bar.color}"/>`,
    );
    parts.push(
      `<text x="${left + Math.max(1, x(bar.value)) + 5}" y="${y + 13}" font-size="11">${Math.round(bar.value).toLocaleString("en")}</text>`,
    );
  });
  return { svg: parts.join("\n"), height: 40 + bars.length * (barHeight + 6) };
}

/** p50 and p99 send→receive per load level, linear scale. */
function latencyPanel(results: BenchResults, top: number, width: number): { svg: string; height: number } {
  const groups = [
    ...results.seeme.openLoop.map((flow) => ({
      label: `open loop ${flow.fraction * 100}% (${flow.offeredPerSecond}/s)`,
      latency: flow.latency,
    })),
    ...results.seeme.saturation.map((flow) => ({ label: `saturation, ${flow.batch}/Sync`, latency: flow.latency })),
  ];
  const left = 290;
  const plot = width - left - 90;
  const max = Math.max(...groups.map((group) => group.latency.p99Ms), 1);
  const parts = [
    `<text x="10" y="${top}" font-size="15" font-weight="bold">see-me send→receive latency (ms): p50 and p99</text>`,
  ];
  groups.forEach((group, i) => {
    const y = top + 14 + i * 46;
    parts.push(`<text x="${left - 8}" y="${y + 22}" font-size="12" text-anchor="end">${escapeXml(group.label)}</text>`);
    for (const [j, key] of (["p50Ms", "p99Ms"] as const).entries()) {
      const w = Math.max(1, (group.latency[key] / max) * plot);
      const color = j === 0 ? COLORS.p50 : COLORS.p99;
      parts.push(`<rect x="${left}" y="${y + j * 20}" width="${w.toFixed(1)}" height="17" fill="${color}"/>`);
      parts.push(
        `<text x="${left + w + 5}" y="${y + j * 20 + 13}" font-size="11">${key.slice(0, 3)} ${group.latency[key]}</text>`,
      );
    }
  });
  return { svg: parts.join("\n"), height: 30 + groups.length * 46 };
}

export function renderChart(results: BenchResults): string {
  const width = 900;
  const bars: Bar[] = [
    ...results.seeme.saturation.map((flow) => ({
      label: `see-me e2e, ${flow.batch} packet/Sync (acked)`,
      value: flow.ackedPerSecond,
      color: COLORS.seeme,
    })),
    ...results.growth.backlog.map((point) => ({
      label: `see-me e2e, ${point.queued.toLocaleString("en")} queued`,
      value: point.flow.ackedPerSecond,
      color: COLORS.seeme,
    })),
    ...results.postgres.raw.map((point) => ({
      label: `P_raw node-postgres, batch ${point.batch}`,
      value: point.rowsPerSecond,
      color: COLORS.postgres,
    })),
    ...results.postgres.relay.map((point) => ({
      label: `P_relay (pg, as the relay runs it), batch ${point.batch}`,
      value: point.rowsPerSecond,
      color: COLORS.postgres,
    })),
    ...results.postgres.prisma.map((point) => ({
      label: `P_prisma, batch ${point.batch}`,
      value: point.rowsPerSecond,
      color: COLORS.postgres,
    })),
    { label: "NATS core publish", value: results.nats.core.messagesPerSecond, color: COLORS.nats },
    { label: "NATS JetStream publish (file)", value: results.nats.jetstream.messagesPerSecond, color: COLORS.nats },
    { label: "C0 empty Connect handler", value: results.handlers.connect.requestsPerSecond, color: COLORS.handler },
    { label: "G0 empty grpc-js handler", value: results.handlers.grpc.requestsPerSecond, color: COLORS.handler },
  ];
  const title = `see-me benchmark — ${results.startedAt} — ${results.machine.cpus} cores, ${results.stackMode}, ${results.blobBytes}-byte blobs`;
  const first = throughputPanel(bars, 60, width);
  const second = latencyPanel(results, 60 + first.height + 30, width);
  const height = 60 + first.height + 30 + second.height + 20;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="24" font-size="16" font-weight="bold">${escapeXml(title)}</text>`,
    first.svg,
    second.svg,
    "</svg>",
    "",
  ].join("\n");
}
