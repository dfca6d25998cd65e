import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compareDateOfBirth, nameSimilarity } from "../../src/modules/screening/matcher.ts";
import { NameIndex, prepareQuery } from "../../src/modules/screening/name-index.ts";
import { nameTokens, normalizeName } from "../../src/modules/screening/names.ts";

/** Invariants of normalisation and scoring, over generated names (Latin, accented and odd input). */
const word = fc.stringMatching(/^[A-Za-zÀ-ÿ'’-]{1,12}$/);
const name = fc.array(word, { minLength: 1, maxLength: 5 }).map((words) => words.join(" "));
const anyText = fc.string({ maxLength: 60 });

describe("normalisation", () => {
  it("is idempotent", () => {
    fc.assert(
      fc.property(fc.oneof(name, anyText), (text) => {
        const once = normalizeName(text);
        expect(normalizeName(once)).toBe(once);
      }),
    );
  });

  it("yields lower-case ASCII tokens only", () => {
    fc.assert(
      fc.property(fc.oneof(name, anyText), (text) => {
        for (const token of nameTokens(text)) expect(token).toMatch(/^[a-z0-9]+$/);
      }),
    );
  });

  it("ignores case, diacritics and punctuation", () => {
    expect(normalizeName("Jürgen MÜLLER-Lüdenscheidt")).toBe(normalizeName("jurgen muller ludenscheidt"));
    expect(normalizeName("Abd al-Rahman")).toBe(normalizeName("Abdulrahman"));
    expect(normalizeName("Mohammed")).toBe(normalizeName("Muhammad"));
    expect(normalizeName("Dr. Ayman al-Zawahiri")).toBe("ayman zawahiri");
  });
});

describe("name similarity", () => {
  const tokens = name.map(nameTokens).filter((list) => list.length > 0);

  it("is a score from 0 to 1", () => {
    fc.assert(
      fc.property(tokens, tokens, (left, right) => {
        const score = nameSimilarity(left, right);
        expect(score).toBeGreaterThanOrEqual(0);
        expect(score).toBeLessThanOrEqual(1);
      }),
    );
  });

  it("is 1 for a name against itself (0 for initials only: they never match alone)", () => {
    fc.assert(
      fc.property(tokens, (list) => {
        const hasFullToken = list.some((token) => token.length > 1);
        expect(nameSimilarity(list, list)).toBe(hasFullToken ? 1 : 0);
      }),
    );
  });

  it("is symmetric", () => {
    fc.assert(
      fc.property(tokens, tokens, (left, right) => {
        expect(nameSimilarity(left, right)).toBeCloseTo(nameSimilarity(right, left), 12);
      }),
    );
  });

  it("does not depend on word order", () => {
    fc.assert(
      fc.property(tokens, tokens, fc.nat(), (left, right, seed) => {
        const shuffled = [...left].sort(
          (a, b) => ((a.charCodeAt(0) * 31 + seed) % 7) - ((b.charCodeAt(0) * 31 + seed) % 7),
        );
        expect(nameSimilarity(shuffled, right)).toBeCloseTo(nameSimilarity(left, right), 12);
      }),
    );
  });
});

describe("the index", () => {
  it("scores every hit from 0 to 1, at or above the threshold, best first", () => {
    const entries = ["OMAR, Mohammed", "NORIEGA, Manuel Antonio", "BIN LADIN, Usama", "SMITH, John"].map(
      (primaryName, position) => ({
        sourceRef: String(position + 1),
        type: "individual" as const,
        primaryName,
        aliases: [],
        datesOfBirth: ["1950"],
        countries: [],
        programs: [],
        position: null,
      }),
    );
    const index = new NameIndex("ofac", "slv_property", entries);
    fc.assert(
      fc.property(
        name,
        fc.double({ min: 0.5, max: 1, noNaN: true }),
        fc.option(fc.date({ min: new Date("1900-01-01"), max: new Date("2020-12-31"), noInvalidDate: true })),
        (fullName, threshold, birth) => {
          const dateOfBirth = birth ? birth.toISOString().slice(0, 10) : undefined;
          const hits = index.search(prepareQuery({ fullName, dateOfBirth }), { threshold, limit: 10 });
          for (const hit of hits) {
            expect(hit.score).toBeGreaterThanOrEqual(threshold);
            expect(hit.score).toBeLessThanOrEqual(1);
          }
          expect(hits.map((hit) => hit.score)).toEqual(
            [...hits.map((hit) => hit.score)].sort((a, b) => b - a),
          );
        },
      ),
    );
  });

  it("finds a listed name in any word order", () => {
    const index = new NameIndex("ofac", "slv_order", [
      {
        sourceRef: "1",
        type: "individual",
        primaryName: "NORIEGA MORENO, Manuel Antonio",
        aliases: [],
        datesOfBirth: [],
        countries: [],
        programs: [],
        position: null,
      },
    ]);
    const words = ["Manuel", "Antonio", "Noriega", "Moreno"];
    fc.assert(
      fc.property(fc.shuffledSubarray(words, { minLength: 4, maxLength: 4 }), (order) => {
        const [hit] = index.search(prepareQuery({ fullName: order.join(" ") }), {
          threshold: 0.85,
          limit: 1,
        });
        expect(hit?.score).toBe(1);
      }),
    );
  });
});

describe("dates of birth", () => {
  it("a listed date either matches, or lowers the score; never both", () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date("1900-01-01"), max: new Date("2020-12-31"), noInvalidDate: true }),
        fc.integer({ min: 1900, max: 2020 }),
        (birth, listedYear) => {
          const verdict = compareDateOfBirth(birth.toISOString().slice(0, 10), [String(listedYear)]);
          const sameYear = birth.getUTCFullYear() === listedYear;
          expect(verdict.kind).toBe(sameYear ? "match" : "mismatch");
        },
      ),
    );
  });
});
