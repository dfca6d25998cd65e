import { Type } from "typebox";
import type { Clock } from "../../src/platform/clock.ts";

/**
 * The faults every slow, fragile back-end simulator shares (legacy core, lending platform,
 * compliance warehouse): a latency distribution scaled by one factor, an error rate, outage
 * windows relative to the simulator's start, and manual outages. Time and randomness are
 * injected, so that a test can move through an outage window with a manual clock and draw
 * latencies from a seeded generator.
 */

/** How long each call takes at scale 1, in milliseconds. */
export type LatencyDistribution =
  | { kind: "fixed"; ms: number }
  | { kind: "uniform"; minMs: number; maxMs: number }
  /**
   * Long-tailed, as real back ends are: half of the calls take less than `medianMs`, 99 % less
   * than `p99Ms`, and none longer than `maxMs` (default three times `p99Ms`), so that one
   * unlucky draw cannot hold a request for an hour.
   */
  | { kind: "log-normal"; medianMs: number; p99Ms: number; maxMs?: number };

/** An outage from `startOffsetMs` after the simulator started, lasting `durationMs` (not scaled). */
export type OutageWindow = readonly [startOffsetMs: number, durationMs: number];

export interface FaultControls {
  latency: LatencyDistribution;
  /** Multiplies every drawn latency: 0.001 runs a 5 s back end at 5 ms. Outage windows are not scaled. */
  latencyScale: number;
  /** Share of API calls answered 500 after their latency, 0..1. */
  errorRate: number;
  /** The next this many API calls are answered 500 (deterministic, for tests). */
  failNextRequests: number;
  outageWindows: OutageWindow[];
  /** Down until set back to false. */
  down: boolean;
  /** Down until this time (ISO 8601), set through `downForMs`; null when not. */
  downUntil: string | null;
}

export interface FaultControlsPatch extends Partial<Omit<FaultControls, "downUntil">> {
  /** Goes down from now for this long (wall-clock, not scaled); 0 ends such an outage. */
  downForMs?: number;
}

export type Availability =
  | { up: true }
  | { up: false; cause: "manual" | "down-for" | "outage-window"; retryAfterMs: number | null };

/** 1 % of a standard normal distribution lies above this. */
const Z_99 = 2.326_347_874_040_840_8;
const LATENCY_MAX_MS = 3_600_000;
const OUTAGE_WINDOWS_MAX = 100;

export const DEFAULT_FAULT_CONTROLS: Omit<FaultControls, "latency"> = {
  latencyScale: 1,
  errorRate: 0,
  failNextRequests: 0,
  outageWindows: [],
  down: false,
  downUntil: null,
};

/** The fault controls a simulator starts with: what its options name, else the defaults. */
export function faultControlsFrom(
  options: Partial<Omit<FaultControls, "downUntil">>,
  defaultLatency: LatencyDistribution,
): FaultControls {
  return checkedFaultControls({
    latency: options.latency ?? defaultLatency,
    latencyScale: options.latencyScale ?? DEFAULT_FAULT_CONTROLS.latencyScale,
    errorRate: options.errorRate ?? DEFAULT_FAULT_CONTROLS.errorRate,
    failNextRequests: options.failNextRequests ?? DEFAULT_FAULT_CONTROLS.failNextRequests,
    outageWindows: options.outageWindows ?? DEFAULT_FAULT_CONTROLS.outageWindows,
    down: options.down ?? DEFAULT_FAULT_CONTROLS.down,
    downUntil: null,
  });
}

function milliseconds(name: string, value: number, minimum = 0): number {
  if (!Number.isFinite(value) || value < minimum || value > LATENCY_MAX_MS) {
    throw new Error(`${name} must be a number of milliseconds from ${minimum} to ${LATENCY_MAX_MS}`);
  }
  return value;
}

export function checkedLatencyDistribution(latency: LatencyDistribution): LatencyDistribution {
  switch (latency.kind) {
    case "fixed":
      return { kind: "fixed", ms: milliseconds("latency.ms", latency.ms) };
    case "uniform": {
      const minMs = milliseconds("latency.minMs", latency.minMs);
      return { kind: "uniform", minMs, maxMs: milliseconds("latency.maxMs", latency.maxMs, minMs) };
    }
    case "log-normal": {
      const medianMs = milliseconds("latency.medianMs", latency.medianMs, 1);
      const p99Ms = milliseconds("latency.p99Ms", latency.p99Ms, medianMs);
      const maxMs = milliseconds(
        "latency.maxMs",
        latency.maxMs ?? Math.min(3 * p99Ms, LATENCY_MAX_MS),
        p99Ms,
      );
      return { kind: "log-normal", medianMs, p99Ms, maxMs };
    }
    default:
      throw new Error("latency.kind must be fixed, uniform or log-normal");
  }
}

/** One standard normal variate (Box–Muller); `1 - random()` keeps the logarithm finite. */
function standardNormal(random: () => number): number {
  const u1 = 1 - random();
  const u2 = random();
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/** One latency at scale 1, in whole milliseconds, within the distribution's bounds. */
export function sampleLatencyMs(latency: LatencyDistribution, random: () => number): number {
  switch (latency.kind) {
    case "fixed":
      return latency.ms;
    case "uniform":
      return latency.minMs + random() * (latency.maxMs - latency.minMs);
    case "log-normal": {
      const mu = Math.log(latency.medianMs);
      const sigma = (Math.log(latency.p99Ms) - mu) / Z_99;
      const drawn = Math.exp(mu + sigma * standardNormal(random));
      return Math.min(drawn, latency.maxMs ?? 3 * latency.p99Ms);
    }
  }
}

function checkedOutageWindows(windows: readonly OutageWindow[]): OutageWindow[] {
  if (windows.length > OUTAGE_WINDOWS_MAX) throw new Error(`at most ${OUTAGE_WINDOWS_MAX} outage windows`);
  return windows.map(([startOffsetMs, durationMs], index) => {
    if (
      !(
        Number.isFinite(startOffsetMs) &&
        startOffsetMs >= 0 &&
        Number.isFinite(durationMs) &&
        durationMs >= 0
      )
    ) {
      throw new Error(`outageWindows[${index}] must be [startOffsetMs >= 0, durationMs >= 0]`);
    }
    return [startOffsetMs, durationMs] as const;
  });
}

export function checkedFaultControls(controls: FaultControls): FaultControls {
  const { latencyScale, errorRate, failNextRequests } = controls;
  if (!(Number.isFinite(latencyScale) && latencyScale >= 0 && latencyScale <= 1_000)) {
    throw new Error("latencyScale must be from 0 to 1000");
  }
  if (!(errorRate >= 0 && errorRate <= 1)) throw new Error("errorRate must be between 0 and 1");
  if (!Number.isInteger(failNextRequests) || failNextRequests < 0 || failNextRequests > 1_000_000) {
    throw new Error("failNextRequests must be a whole number from 0 to 1000000");
  }
  return {
    latency: checkedLatencyDistribution(controls.latency),
    latencyScale,
    errorRate,
    failNextRequests,
    outageWindows: checkedOutageWindows(controls.outageWindows),
    down: controls.down === true,
    downUntil: controls.downUntil,
  };
}

export interface FaultInjectorOptions {
  controls: FaultControls;
  clock: Clock;
  random: () => number;
}

/**
 * Decides, call by call, whether a simulator is up, how long it takes and whether it fails.
 * Outage windows count from the moment the injector is made, that is from the simulator's start.
 */
export class FaultInjector {
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #startedAtMs: number;
  #controls: FaultControls;

  constructor(options: FaultInjectorOptions) {
    this.#clock = options.clock;
    this.#random = options.random;
    this.#startedAtMs = options.clock.now().getTime();
    this.#controls = checkedFaultControls(options.controls);
  }

  controls(patch: FaultControlsPatch = {}): FaultControls {
    const { downForMs, ...rest } = patch;
    let downUntil = this.#controls.downUntil;
    if (downForMs !== undefined) {
      milliseconds("downForMs", downForMs);
      downUntil = downForMs === 0 ? null : new Date(this.#clock.now().getTime() + downForMs).toISOString();
    }
    this.#controls = checkedFaultControls({ ...this.#controls, ...rest, downUntil });
    return structuredClone(this.#controls);
  }

  availability(): Availability {
    const { down, downUntil, outageWindows } = this.#controls;
    const nowMs = this.#clock.now().getTime();
    if (down) return { up: false, cause: "manual", retryAfterMs: null };
    if (downUntil !== null && Date.parse(downUntil) > nowMs) {
      return { up: false, cause: "down-for", retryAfterMs: Date.parse(downUntil) - nowMs };
    }
    const offsetMs = nowMs - this.#startedAtMs;
    for (const [startOffsetMs, durationMs] of outageWindows) {
      const endOffsetMs = startOffsetMs + durationMs;
      if (offsetMs >= startOffsetMs && offsetMs < endOffsetMs) {
        return { up: false, cause: "outage-window", retryAfterMs: endOffsetMs - offsetMs };
      }
    }
    return { up: true };
  }

  /** The latency of the next call, scaled, in milliseconds. */
  nextLatencyMs(): number {
    const { latency, latencyScale } = this.#controls;
    return sampleLatencyMs(latency, this.#random) * latencyScale;
  }

  /** Whether this call is one of the simulated errors (`failNextRequests`, then `errorRate`). */
  failsNow(): boolean {
    const controls = this.#controls;
    if (controls.failNextRequests > 0) {
      this.#controls = { ...controls, failNextRequests: controls.failNextRequests - 1 };
      return true;
    }
    return controls.errorRate > 0 && this.#random() < controls.errorRate;
  }
}

// ————— Schemas of the admin endpoint —————

const Milliseconds = Type.Number({ minimum: 0, maximum: LATENCY_MAX_MS });

export const LatencyDistributionSchema = Type.Union([
  Type.Object({ kind: Type.Literal("fixed"), ms: Milliseconds }, { additionalProperties: false }),
  Type.Object(
    { kind: Type.Literal("uniform"), minMs: Milliseconds, maxMs: Milliseconds },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      kind: Type.Literal("log-normal"),
      medianMs: Milliseconds,
      p99Ms: Milliseconds,
      maxMs: Type.Optional(Milliseconds),
    },
    { additionalProperties: false },
  ),
]);

/** The fault part of a `PATCH /admin/controls` body; each simulator adds its own fields. */
export const FaultControlsPatchProperties = {
  latency: Type.Optional(LatencyDistributionSchema),
  latencyScale: Type.Optional(Type.Number({ minimum: 0, maximum: 1_000 })),
  errorRate: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  failNextRequests: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
  outageWindows: Type.Optional(
    Type.Array(Type.Tuple([Type.Number({ minimum: 0 }), Type.Number({ minimum: 0 })]), {
      maxItems: OUTAGE_WINDOWS_MAX,
    }),
  ),
  down: Type.Optional(Type.Boolean()),
  downForMs: Type.Optional(Milliseconds),
};

// ————— Configuration from the environment —————

function envNumberOr(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new Error(`${name} must be a number, not "${raw}"`);
  return value;
}

/**
 * A latency from text: `5000` (fixed), `2000-8000` (uniform) or `lognormal:5000:12000`
 * (median and p99, optionally a third number for the cap).
 */
export function parseLatencyDistribution(text: string): LatencyDistribution {
  const raw = text.trim();
  const range = /^(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)$/.exec(raw);
  if (range)
    return checkedLatencyDistribution({ kind: "uniform", minMs: Number(range[1]), maxMs: Number(range[2]) });
  const logNormal = /^log-?normal:(\d+(?:\.\d+)?):(\d+(?:\.\d+)?)(?::(\d+(?:\.\d+)?))?$/i.exec(raw);
  if (logNormal) {
    return checkedLatencyDistribution({
      kind: "log-normal",
      medianMs: Number(logNormal[1]),
      p99Ms: Number(logNormal[2]),
      ...(logNormal[3] ? { maxMs: Number(logNormal[3]) } : {}),
    });
  }
  if (/^\d+(?:\.\d+)?$/.test(raw)) return checkedLatencyDistribution({ kind: "fixed", ms: Number(raw) });
  throw new Error(`"${text}" is not a latency: use 5000, 2000-8000 or lognormal:5000:12000`);
}

/** Outage windows from text: `60000+30000,300000+5000` (start offset + duration, milliseconds). */
export function parseOutageWindows(text: string): OutageWindow[] {
  const parts = text
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part !== "");
  return checkedOutageWindows(
    parts.map((part) => {
      const match = /^(\d+)\s*\+\s*(\d+)$/.exec(part);
      if (!match) throw new Error(`"${part}" is not an outage window: use startOffsetMs+durationMs`);
      return [Number(match[1]), Number(match[2])] as const;
    }),
  );
}

/**
 * The fault controls of the simulator whose variables start with `prefix` (`LEGACY_`):
 * `<prefix>LATENCY`, `<prefix>LATENCY_SCALE` (else `SIMULATOR_LATENCY_SCALE`), `<prefix>ERROR_RATE`,
 * `<prefix>OUTAGES` and `<prefix>DOWN`.
 */
export function faultControlsFromEnv(
  env: NodeJS.ProcessEnv,
  prefix: string,
  defaultLatency: LatencyDistribution,
): FaultControls {
  const latency = env[`${prefix}LATENCY`]?.trim();
  const scale = envNumberOr(env, "SIMULATOR_LATENCY_SCALE", 1);
  return checkedFaultControls({
    ...DEFAULT_FAULT_CONTROLS,
    latency: latency ? parseLatencyDistribution(latency) : defaultLatency,
    latencyScale: envNumberOr(env, `${prefix}LATENCY_SCALE`, scale),
    errorRate: envNumberOr(env, `${prefix}ERROR_RATE`, 0),
    outageWindows: parseOutageWindows(env[`${prefix}OUTAGES`] ?? ""),
    down: /^(1|true|yes)$/i.test(env[`${prefix}DOWN`] ?? ""),
  });
}
