import { describe, expect, it } from "vitest";
import { NameIndex, prepareQuery, type SubjectQuery } from "../../src/modules/screening/name-index.ts";
import { bundledOfac } from "./screening.helpers.ts";

/**
 * Fuzzy matching against the whole bundled SDN snapshot (names and aliases), at the default
 * threshold. Listed parties used: 6635 "OMAR, Mohammed", 6365 "BIN LADIN, Usama bin Muhammad bin
 * Awad", 2676 "AL ZAWAHIRI, Dr. Ayman", 1572 "NORIEGA, Manuel Antonio", 2679 "FADLALLAH, Shaykh
 * Muhammad Husayn".
 */
const THRESHOLD = 0.85;
const index = new NameIndex("ofac", "slv_test", bundledOfac().entries);

function search(subject: SubjectQuery | string, threshold = THRESHOLD) {
  const query = prepareQuery(typeof subject === "string" ? { fullName: subject } : subject);
  return index.search(query, { threshold, limit: 20 });
}

function hitOn(subject: SubjectQuery | string, sourceRef: string) {
  return search(subject).find((match) => match.entry.sourceRef === sourceRef);
}

describe("known variants of listed names are found", () => {
  it("indexes every name and alias of the snapshot", () => {
    expect(index.namesCount).toBeGreaterThan(20_000);
  });

  it.each([
    ["Mohammed Omar", "6635"],
    ["Muhammad Omar", "6635"],
    ["Mohamed Umar", "6635"],
    ["Omar Mohammed", "6635"],
    ["Usama bin Ladin", "6365"],
    ["Osama bin Laden", "6365"],
    ["Osama Ladin", "6365"],
    ["Laden Usama", "6365"],
    ["Ayman al-Zawahiri", "2676"],
    ["Aiman Zawahiri", "2676"],
    ["Zawahiri, Ayman", "2676"],
    ["Manuel Noriega", "1572"],
    ["Noriega Manuel Antonio", "1572"],
    ["Manuel Antonio Noriéga", "1572"],
    ["MANUEL ANTONIO NORIEGA", "1572"],
    ["M. A. Noriega", "1572"],
    ["Muhammad Hussein Fadlallah", "2679"],
    ["Mohammed Husayn Fadlalla", "2679"],
  ])("%s matches entry %s", (name, sourceRef) => {
    const hit = hitOn(name, sourceRef);
    expect(hit, `${name} → ${JSON.stringify(search(name).map((m) => m.matchedName))}`).toBeDefined();
    expect(hit!.score).toBeGreaterThanOrEqual(THRESHOLD);
  });

  it("reports the score, the name or alias that matched and the fields that matched", () => {
    const hit = hitOn({ fullName: "Osama bin Laden", dateOfBirth: "1957-07-30", country: "SA" }, "6365")!;
    expect(hit.matchedAs).toBe("alias");
    expect(hit.matchedName).toMatch(/LADEN, (Osama|Usama)$/i);
    expect(hit.matchedFields).toEqual(["alias", "dob", "country"]);
    expect(hit.score).toBeGreaterThanOrEqual(hit.nameScore);
    expect(hit.entry.programs).toEqual(["SDGT"]);
    const byName = hitOn("Manuel Antonio Noriega", "1572")!;
    expect(byName).toMatchObject({ matchedAs: "name", matchedFields: ["name"], score: 1, nameScore: 1 });
  });

  it("scores an exact name higher than one with a missing middle name, and that higher than initials", () => {
    const full = hitOn("Manuel Antonio Noriega", "1572")!.score;
    const missingMiddle = hitOn("Manuel Noriega", "1572")!.score;
    const initials = hitOn("M. A. Noriega", "1572")!.score;
    expect(full).toBeGreaterThan(missingMiddle);
    expect(missingMiddle).toBeGreaterThan(initials);
  });
});

describe("clearly different names are not flagged", () => {
  it.each([
    "Emma Johnson",
    "Lukas Schneider",
    "Sophie Wagner",
    "Hans Becker",
    "Julia Hoffmann",
    "Yuki Tanaka",
    "Grace Hopper",
    "Ada Lovelace",
  ])("%s has no hit", (name) => {
    expect(search(name)).toEqual([]);
  });

  it("does not match on one shared common given name", () => {
    expect(hitOn("Mohammed Schneider", "6635")).toBeUndefined();
    expect(hitOn("Ayman Becker", "2676")).toBeUndefined();
  });

  it("does not match on initials alone", () => {
    expect(search("M. O.")).toEqual([]);
  });
});

describe("dates of birth and countries", () => {
  // A misspelt surname, so that the name alone scores below 1 and a bonus shows.
  const name = "Usama bin Ladinn";

  it("raise the score when they match the listed ones", () => {
    const nameOnly = hitOn(name, "6365")!;
    const sameDay = hitOn({ fullName: name, dateOfBirth: "1957-07-30" }, "6365")!;
    const sameYear = hitOn({ fullName: name, dateOfBirth: "1958-02-01" }, "6365")!;
    const sameCountry = hitOn({ fullName: name, country: "SA" }, "6365")!;
    expect(nameOnly.score).toBeLessThan(1);
    expect(sameDay.score).toBeGreaterThanOrEqual(sameYear.score);
    expect(sameYear.score).toBeGreaterThan(nameOnly.score);
    expect(sameCountry.score).toBeGreaterThan(nameOnly.score);
    expect(sameYear.matchedFields).toContain("dob");
    expect(sameCountry.matchedFields).toContain("country");
  });

  it("a different known date of birth lowers the score", () => {
    const nameOnly = search("Osama Laden", 0).find((match) => match.entry.sourceRef === "6365")!;
    const otherDob = search({ fullName: "Osama Laden", dateOfBirth: "1990-05-05" }, 0).find(
      (match) => match.entry.sourceRef === "6365",
    )!;
    expect(otherDob.score).toBeLessThan(nameOnly.score);
    expect(otherDob.matchedFields).not.toContain("dob");
  });

  it("turns a namesake with a far-off date of birth into no hit at the threshold", () => {
    expect(hitOn({ fullName: "Manuel Noriega", dateOfBirth: "1992-03-04" }, "1572")).toBeDefined();
    // Noriega (1572) has no listed date of birth: nothing to compare, the name decides.
    expect(hitOn({ fullName: "Mohammed Umar", dateOfBirth: "1990-01-01" }, "6635")).toBeUndefined();
  });

  it("a higher threshold flags less", () => {
    const lenient = search("Maria Garcia", 0.85).length;
    const strict = search("Maria Garcia", 0.97).length;
    expect(strict).toBeLessThan(lenient);
  });
});
