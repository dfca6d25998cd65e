import { performance } from "node:perf_hooks";
import { buildApp } from "../src/app.ts";
import { loadConfig } from "../src/config.ts";
import { BUNDLED_OFAC_DIRECTORY, parseOfac, readOfacDirectory } from "../src/modules/screening/index.ts";
import { NameIndex, prepareQuery } from "../src/modules/screening/name-index.ts";
import { displayName } from "../src/modules/screening/names.ts";
import { systemContext } from "../src/platform/context.ts";
import { percentile, table } from "./support.ts";

/**
 * `npm run bench -- screening`: sanctions screening against the whole bundled OFAC SDN snapshot
 * (every name and alias): how long parsing and indexing take, then screening one name at a time,
 * in memory (the target: p99 ≤ 20 ms) and as `screenCustomer` does it, with the screening
 * and its hits stored in the embedded database. Queries are half listed names with the variations
 * a customer's name has (word order, a dropped middle name, transliteration), half names not listed.
 */
export interface ScreeningFigures {
  entriesCount: number;
  namesIndexed: number;
  parseMs: number;
  indexBuildMs: number;
  queriesCount: number;
  screeningsPerS: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Queries that had at least one hit (listed variants should, unlisted names mostly not). */
  hitRatePercent: number;
  /** screenCustomer with storage (PGlite in memory): undefined when not asked for. */
  stored?: { customersCount: number; perS: number; p50Ms: number; p99Ms: number } | undefined;
}

const QUERIES = Number(process.env.BENCH_SCREENING_QUERIES ?? 4_000);
const WARM_UP_QUERIES = 500;
const STORED_CUSTOMERS = Number(process.env.BENCH_SCREENING_CUSTOMERS ?? 300);
const THRESHOLD = 0.85;

const GIVEN = [
  "Anna",
  "Lukas",
  "Sophie",
  "Jonas",
  "Maria",
  "Peter",
  "Elif",
  "Wei",
  "Olga",
  "Tomás",
  "Amara",
  "Kenji",
];
const FAMILY = [
  "Schneider",
  "Kowalski",
  "Dubois",
  "Rossi",
  "Jensen",
  "Novak",
  "Yilmaz",
  "Tanaka",
  "Okafor",
  "Silva",
];
const TRANSLITERATIONS: Array<[RegExp, string]> = [
  [/muhammad/i, "Mohammed"],
  [/mohammed/i, "Muhammad"],
  [/usama/i, "Osama"],
  [/husayn/i, "Hussein"],
  [/abd al /i, "Abdul "],
];

/** A deterministic pseudo-random sequence, so that every run screens the same names. */
function sequence(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
}

function variant(name: string, random: () => number): string {
  let words = name.split(/\s+/);
  if (random() < 0.5) words = [...words.slice(1), words[0]!];
  if (words.length > 2 && random() < 0.5) words.splice(1, 1);
  let text = words.join(" ");
  for (const [pattern, replacement] of TRANSLITERATIONS) text = text.replace(pattern, replacement);
  return text;
}

export function screeningQueries(names: readonly string[], count: number): string[] {
  const random = sequence(42);
  return Array.from({ length: count }, (_, index) => {
    if (index % 2 === 0) return variant(names[Math.floor(random() * names.length)]!, random);
    return `${GIVEN[Math.floor(random() * GIVEN.length)]} ${FAMILY[Math.floor(random() * FAMILY.length)]}`;
  });
}

function timeQueries(index: NameIndex, queries: readonly string[]) {
  const timesMs: number[] = [];
  let withHits = 0;
  const startedAt = performance.now();
  for (const fullName of queries) {
    const before = performance.now();
    const hits = index.search(prepareQuery({ fullName }), { threshold: THRESHOLD, limit: 20 });
    timesMs.push(performance.now() - before);
    if (hits.length > 0) withHits += 1;
  }
  const totalMs = performance.now() - startedAt;
  timesMs.sort((a, b) => a - b);
  return { timesMs, totalMs, withHits };
}

async function storedFigures(queries: readonly string[]): Promise<ScreeningFigures["stored"]> {
  const app = await buildApp({
    config: loadConfig({ ...process.env, OMNICORE_DATA_DIR: "memory", LOG_LEVEL: "warn", PORT: "0" }),
  });
  try {
    await app.services.screening.ensureBundledList();
    const context = systemContext("bench-screening");
    const timesMs: number[] = [];
    const startedAt = performance.now();
    for (let index = 0; index < STORED_CUSTOMERS; index++) {
      const before = performance.now();
      await app.services.screening.screenCustomer(undefined, context, {
        customerId: `cus_${index.toString(16).padStart(32, "0")}`,
        fullName: queries[index % queries.length]!,
      });
      timesMs.push(performance.now() - before);
    }
    const totalMs = performance.now() - startedAt;
    timesMs.sort((a, b) => a - b);
    return {
      customersCount: STORED_CUSTOMERS,
      perS: Math.round((STORED_CUSTOMERS / totalMs) * 1000),
      p50Ms: percentile(timesMs, 50),
      p99Ms: percentile(timesMs, 99),
    };
  } finally {
    await app.close();
  }
}

/** Runs the benchmark and returns its figures; `print: false` for callers that print their own. */
export async function runScreeningBenchmark(
  options: { print?: boolean; stored?: boolean } = {},
): Promise<ScreeningFigures> {
  const print = options.print ?? true;
  let startedAt = performance.now();
  const list = parseOfac(readOfacDirectory(BUNDLED_OFAC_DIRECTORY));
  const parseMs = performance.now() - startedAt;
  startedAt = performance.now();
  const index = new NameIndex("ofac", "slv_bench", list.entries);
  const indexBuildMs = performance.now() - startedAt;
  const names = list.entries.flatMap((entry) => [
    displayName(entry.primaryName, entry.type === "individual"),
    ...entry.aliases,
  ]);
  const queries = screeningQueries(names, QUERIES);
  timeQueries(index, screeningQueries(names, WARM_UP_QUERIES));
  const measured = timeQueries(index, queries);
  const figures: ScreeningFigures = {
    entriesCount: list.entries.length,
    namesIndexed: index.namesCount,
    parseMs: Math.round(parseMs),
    indexBuildMs: Math.round(indexBuildMs),
    queriesCount: queries.length,
    screeningsPerS: Math.round((queries.length / measured.totalMs) * 1000),
    p50Ms: percentile(measured.timesMs, 50),
    p99Ms: percentile(measured.timesMs, 99),
    maxMs: measured.timesMs.at(-1) ?? Number.NaN,
    hitRatePercent: Math.round((measured.withHits / queries.length) * 100),
    stored: options.stored === false ? undefined : await storedFigures(queries),
  };
  if (print) printFigures(figures);
  return figures;
}

function fixed(value: number): string {
  return value.toFixed(value < 10 ? 3 : 1);
}

function printFigures(figures: ScreeningFigures): void {
  process.stdout.write("\n[screening] one name against the whole OFAC SDN snapshot (names and aliases)\n");
  table([
    {
      parties: figures.entriesCount,
      "names indexed": figures.namesIndexed,
      "parse ms": figures.parseMs,
      "index build ms": figures.indexBuildMs,
      "screenings/s": figures.screeningsPerS,
      "p50/p99/max ms": `${fixed(figures.p50Ms)}/${fixed(figures.p99Ms)}/${fixed(figures.maxMs)}`,
      "queries with a hit": `${figures.hitRatePercent}%`,
    },
  ]);
  if (!figures.stored) return;
  process.stdout.write("\n[screening] screenCustomer: screened, stored, audited and published (PGlite)\n");
  table([
    {
      customers: figures.stored.customersCount,
      "screenings/s": figures.stored.perS,
      "p50/p99 ms": `${fixed(figures.stored.p50Ms)}/${fixed(figures.stored.p99Ms)}`,
    },
  ]);
}
