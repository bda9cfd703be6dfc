import { runChaos, verdict, type Fault } from "./chaos.js";

/**
 * `npm run chaos`: the full matrix — every service killed with SIGKILL in turn and started
 * again, NATS stopped (CHAOS_OUTAGE_MS, default 10 s), PostgreSQL cut for as long — under
 * CHAOS_PAIRS (20) device pairs sending CHAOS_RATE (4) texts/s in all. Exits 1 on any
 * acknowledged text lost or duplicated, never acknowledged after the drain, or whose delivery
 * receipt never reached its sender.
 */
async function main(): Promise<void> {
  const outage = Number(process.env.CHAOS_OUTAGE_MS ?? 10_000);
  const faults: Fault[] = [
    { kind: "kill", service: "identity" },
    { kind: "kill", service: "connection" },
    { kind: "kill", service: "location" },
    { kind: "kill", service: "gateway" },
    { kind: "nats", ms: outage },
    { kind: "postgres", ms: outage },
  ];
  const report = await runChaos({
    pairs: Number(process.env.CHAOS_PAIRS ?? 20),
    rate: Number(process.env.CHAOS_RATE ?? 4),
    faults,
    settleMs: Number(process.env.CHAOS_SETTLE_MS ?? 15_000),
    drainMs: Number(process.env.CHAOS_DRAIN_MS ?? 120_000),
    log: console.log,
  });
  console.log(`\nran ${(report.elapsedMs / 1000).toFixed(0)} s`);
  console.log(`queued     ${report.queued}`);
  console.log(`acked      ${report.acked}   (stored by the relay)`);
  console.log(`delivered  ${report.delivered}   (handed to the receiving app)`);
  console.log(`lost       ${report.lost}   (acked, never delivered)`);
  console.log(`duplicates ${report.duplicates}   (delivered to the app more than once)`);
  console.log(`unacked    ${report.unacked}   (queued, never acked after the drain)`);
  console.log(`receipts   ${report.receiptsReceived} of ${report.receiptsExpected} expected`);
  console.log(`send errors ${report.sendErrors}`);
  console.log("\nfault                      recovery after end   after start");
  for (const fault of report.faults)
    console.log(
      `${fault.fault.padEnd(26)} ${`${(fault.recoveryMs / 1000).toFixed(1)} s`.padStart(18)} ${`${(fault.outageMs / 1000).toFixed(1)} s`.padStart(13)}`,
    );
  const problems = verdict(report);
  console.log(problems.length ? `\nFAILED: ${problems.join("; ")}` : "\nPASSED");
  process.exitCode = problems.length ? 1 : 0;
}

await main();
