import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.ts";

describe("screening configuration", () => {
  it("has defaults", () => {
    expect(loadConfig({}).screening).toEqual({
      threshold: 0.85,
      hitsMax: 20,
      rescreenBatchMax: 200,
      loadBundledList: true,
    });
  });

  it("reads the threshold as a decimal from 0.5 to 1", () => {
    expect(loadConfig({ OMNICORE_SCREENING_THRESHOLD: "0.92" }).screening.threshold).toBe(0.92);
    expect(loadConfig({ OMNICORE_SCREENING_THRESHOLD: "1" }).screening.threshold).toBe(1);
    for (const value of ["0.4", "1.1", "abc", "0,9", "-0.9"]) {
      expect(() => loadConfig({ OMNICORE_SCREENING_THRESHOLD: value }), value).toThrow(ConfigError);
    }
  });

  it("turns the bundled list off, and refuses other words", () => {
    expect(loadConfig({ OMNICORE_SCREENING_BUNDLED_LIST: "off" }).screening.loadBundledList).toBe(false);
    expect(() => loadConfig({ OMNICORE_SCREENING_BUNDLED_LIST: "maybe" })).toThrow(
      /OMNICORE_SCREENING_BUNDLED_LIST/,
    );
  });
});
