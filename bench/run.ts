/**
 * `npm run bench -- <name>`: runs one benchmark (or all) and prints its figures. Benchmarks are
 * never part of `npm test`; they measure, they do not assert.
 */
const BENCHMARKS: Record<string, () => Promise<void>> = {
  ledger: async () => (await import("./ledger.bench.ts")).runLedgerBenchmark(),
  auth: async () => (await import("./auth.bench.ts")).runAuthBenchmark(),
  payments: async () => (await import("./payments.bench.ts")).runPaymentsBenchmark(),
  screening: async () => {
    await (await import("./screening.bench.ts")).runScreeningBenchmark();
  },
  onboarding: async () => (await import("./onboarding.bench.ts")).runOnboardingBenchmark(),
  journey: async () => (await import("./journey.bench.ts")).runJourneyBenchmark(),
  sync: async () => (await import("./sync.bench.ts")).runSyncBenchmark(),
};

const names = process.argv.slice(2).filter((arg) => !arg.startsWith("-"));
const selected = names.length > 0 ? names : Object.keys(BENCHMARKS);
for (const name of selected) {
  const run = BENCHMARKS[name];
  if (!run) {
    console.error(`unknown benchmark ${name}; known: ${Object.keys(BENCHMARKS).join(", ")}`);
    process.exit(2);
  }
  await run();
}
