import { describe, expect, it } from "vitest";
import {
  checkedLatencyDistribution,
  DEFAULT_FAULT_CONTROLS,
  FaultInjector,
  faultControlsFromEnv,
  parseLatencyDistribution,
  parseOutageWindows,
  sampleLatencyMs,
} from "../../simulators/shared/faults.ts";
import { ManualClock } from "../../src/platform/clock.ts";
import { seededRandom } from "./simulator-kit.ts";

function draws(count: number, draw: () => number): number[] {
  return Array.from({ length: count }, draw).sort((a, b) => a - b);
}

describe("latency distributions", () => {
  it("draws a fixed latency every time", () => {
    const random = seededRandom(1);
    expect(new Set(draws(100, () => sampleLatencyMs({ kind: "fixed", ms: 5_000 }, random)))).toEqual(
      new Set([5_000]),
    );
  });

  it("keeps a uniform latency within its range and spreads it over the range", () => {
    const random = seededRandom(2);
    const sample = draws(2_000, () =>
      sampleLatencyMs({ kind: "uniform", minMs: 2_000, maxMs: 8_000 }, random),
    );
    expect(sample[0]).toBeGreaterThanOrEqual(2_000);
    expect(sample.at(-1)).toBeLessThanOrEqual(8_000);
    // Both halves of the range are drawn from.
    expect(sample[0]).toBeLessThan(5_000);
    expect(sample.at(-1)).toBeGreaterThan(5_000);
  });

  it("puts half of a log-normal latency below its median, 99 % below its p99, none above its cap", () => {
    const random = seededRandom(3);
    const latency = checkedLatencyDistribution({ kind: "log-normal", medianMs: 5_000, p99Ms: 12_000 });
    const count = 20_000;
    const sample = draws(count, () => sampleLatencyMs(latency, random));
    const belowMedian = sample.filter((ms) => ms < 5_000).length / count;
    const belowP99 = sample.filter((ms) => ms < 12_000).length / count;
    // The sample proportions are within a few standard errors of 0.5 and 0.99.
    expect(belowMedian).toBeGreaterThan(0.47);
    expect(belowMedian).toBeLessThan(0.53);
    expect(belowP99).toBeGreaterThan(0.985);
    expect(belowP99).toBeLessThan(0.995);
    expect(sample[0]).toBeGreaterThan(0);
    expect(sample.at(-1)).toBeLessThanOrEqual(36_000);
    const capped = { kind: "log-normal", medianMs: 100, p99Ms: 200, maxMs: 250 } as const;
    expect(Math.max(...draws(5_000, () => sampleLatencyMs(capped, random)))).toBeLessThanOrEqual(250);
  });

  it("refuses distributions whose bounds are out of order", () => {
    expect(() => checkedLatencyDistribution({ kind: "uniform", minMs: 10, maxMs: 5 })).toThrow();
    expect(() => checkedLatencyDistribution({ kind: "log-normal", medianMs: 500, p99Ms: 100 })).toThrow();
    expect(() => checkedLatencyDistribution({ kind: "fixed", ms: -1 })).toThrow();
  });

  it("scales every drawn latency by latencyScale", () => {
    const faults = new FaultInjector({
      clock: new ManualClock(),
      random: seededRandom(4),
      controls: {
        ...DEFAULT_FAULT_CONTROLS,
        latency: { kind: "uniform", minMs: 2_000, maxMs: 4_000 },
        latencyScale: 0.001,
      },
    });
    const sample = draws(500, () => faults.nextLatencyMs());
    expect(sample[0]).toBeGreaterThanOrEqual(2);
    expect(sample.at(-1)).toBeLessThanOrEqual(4);
  });

  it("reads latencies and outage windows from text", () => {
    expect(parseLatencyDistribution("5000")).toEqual({ kind: "fixed", ms: 5_000 });
    expect(parseLatencyDistribution("2000-8000")).toEqual({ kind: "uniform", minMs: 2_000, maxMs: 8_000 });
    expect(parseLatencyDistribution("lognormal:5000:12000")).toMatchObject({
      kind: "log-normal",
      medianMs: 5_000,
      p99Ms: 12_000,
    });
    expect(() => parseLatencyDistribution("slow")).toThrow();
    expect(parseOutageWindows("60000+30000, 300000+5000")).toEqual([
      [60_000, 30_000],
      [300_000, 5_000],
    ]);
    expect(() => parseOutageWindows("60000")).toThrow();
    const controls = faultControlsFromEnv(
      {
        LEGACY_LATENCY: "100-200",
        SIMULATOR_LATENCY_SCALE: "0.001",
        LEGACY_ERROR_RATE: "0.1",
        LEGACY_DOWN: "true",
      },
      "LEGACY_",
      { kind: "fixed", ms: 5_000 },
    );
    expect(controls).toMatchObject({ latencyScale: 0.001, errorRate: 0.1, down: true });
    expect(controls.latency).toEqual({ kind: "uniform", minMs: 100, maxMs: 200 });
  });
});

describe("fault injector", () => {
  it("fails close to its error rate over many calls", () => {
    const faults = new FaultInjector({
      clock: new ManualClock(),
      random: seededRandom(5),
      controls: { ...DEFAULT_FAULT_CONTROLS, latency: { kind: "fixed", ms: 0 }, errorRate: 0.2 },
    });
    const calls = 10_000;
    const failures = Array.from({ length: calls }, () => faults.failsNow()).filter(Boolean).length;
    // Binomial: standard deviation sqrt(10000 × 0.2 × 0.8) = 40; five of them either way.
    expect(Math.abs(failures - calls * 0.2)).toBeLessThan(200);
  });

  it("fails the next N calls exactly, then goes back to its rate", () => {
    const faults = new FaultInjector({
      clock: new ManualClock(),
      random: seededRandom(6),
      controls: { ...DEFAULT_FAULT_CONTROLS, latency: { kind: "fixed", ms: 0 }, failNextRequests: 3 },
    });
    expect(Array.from({ length: 5 }, () => faults.failsNow())).toEqual([true, true, true, false, false]);
  });

  it("is down inside an outage window, counted from its start, and up around it", () => {
    const clock = new ManualClock();
    const faults = new FaultInjector({
      clock,
      random: seededRandom(7),
      controls: {
        ...DEFAULT_FAULT_CONTROLS,
        latency: { kind: "fixed", ms: 0 },
        outageWindows: [[1_000, 500]],
      },
    });
    expect(faults.availability().up).toBe(true);
    clock.advance(1_000);
    expect(faults.availability()).toEqual({ up: false, cause: "outage-window", retryAfterMs: 500 });
    clock.advance(499);
    expect(faults.availability().up).toBe(false);
    clock.advance(1);
    expect(faults.availability().up).toBe(true);
  });

  it("goes down for a while, or until told otherwise", () => {
    const clock = new ManualClock();
    const faults = new FaultInjector({
      clock,
      random: seededRandom(8),
      controls: { ...DEFAULT_FAULT_CONTROLS, latency: { kind: "fixed", ms: 0 } },
    });
    faults.controls({ downForMs: 2_000 });
    expect(faults.availability()).toMatchObject({ up: false, cause: "down-for", retryAfterMs: 2_000 });
    clock.advance(2_000);
    expect(faults.availability().up).toBe(true);
    faults.controls({ down: true });
    clock.advance(1_000_000);
    expect(faults.availability()).toMatchObject({ up: false, cause: "manual" });
    faults.controls({ down: false });
    expect(faults.availability().up).toBe(true);
  });
});
