import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { countryCode } from "../../src/modules/screening/countries.ts";
import {
  aliasesCount,
  BUNDLED_OFAC_DIRECTORY,
  PepListError,
  parseOfac,
  parsePep,
  readOfacDirectory,
} from "../../src/modules/screening/index.ts";
import { parseDateOfBirth, parseRemarks } from "../../src/modules/screening/remarks.ts";
import { bundledOfac, pepFixture } from "./screening.helpers.ts";

const temporary: string[] = [];
afterAll(() => {
  for (const directory of temporary) rmSync(directory, { recursive: true, force: true });
});

describe("the OFAC SDN loader on the bundled snapshot", () => {
  const list = bundledOfac();
  const byRef = new Map(list.entries.map((entry) => [entry.sourceRef, entry]));

  it("reads every party and alias of the snapshot", () => {
    expect(list.source).toBe("ofac");
    // 8,976 rows in ofac-sdn.csv, 11,910 in ofac-alt.csv (plus names quoted after "a.k.a." in remarks).
    expect(list.entries).toHaveLength(8_976);
    const fromAltFile = readFileSync(join(BUNDLED_OFAC_DIRECTORY, "ofac-alt.csv"), "latin1")
      .split("\n")
      .filter((line) => /^\d+,/.test(line)).length;
    expect(fromAltFile).toBe(11_910);
    expect(aliasesCount(list)).toBeGreaterThanOrEqual(11_800);
    expect(list.entries.filter((entry) => entry.type === "individual")).toHaveLength(4_620);
    expect(new Set(list.entries.map((entry) => entry.sourceRef)).size).toBe(list.entries.length);
  });

  it("reads names, aliases, dates of birth, countries and programmes of a party", () => {
    const binLadin = byRef.get("6365")!;
    expect(binLadin).toMatchObject({
      type: "individual",
      primaryName: "BIN LADIN, Usama bin Muhammad bin Awad",
      datesOfBirth: ["1957-07-30", "1958"],
      programs: ["SDGT"],
      position: null,
    });
    expect(binLadin.aliases).toEqual(expect.arrayContaining(["BIN LADEN, Osama", "BIN LADIN, Usama"]));
    expect(binLadin.countries).toEqual(expect.arrayContaining(["SA", "YE"]));
    expect(byRef.get("306")).toMatchObject({ type: "entity", primaryName: "BANCO NACIONAL DE CUBA" });
    expect(byRef.get("306")!.aliases).toEqual(expect.arrayContaining(["NATIONAL BANK OF CUBA", "BNC"]));
    expect(byRef.get("2676")!.countries).toContain("EG");
  });

  it("splits several programmes", () => {
    const multi = list.entries.find((entry) => entry.programs.length > 2)!;
    expect(multi.programs.every((program) => /^[A-Z0-9-]+$/.test(program))).toBe(true);
  });

  it("gives the same checksum to the same content and another to changed content", () => {
    const files = readOfacDirectory(BUNDLED_OFAC_DIRECTORY);
    expect(parseOfac(files).checksum).toBe(list.checksum);
    const changed = Buffer.concat([files.sdn, Buffer.from('99999999,"NEW, Party","individual","SDGT"\r\n')]);
    expect(parseOfac({ ...files, sdn: changed }).checksum).not.toBe(list.checksum);
  });

  it("reads a Treasury download laid out as sdn.csv, alt.csv, add.csv and sdn_comments.csv", () => {
    const directory = mkdtempSync(join(tmpdir(), "omnicore-ofac-"));
    temporary.push(directory);
    // UTF-8 with a byte-order mark, and a diacritic the snapshot does not have.
    writeFileSync(
      join(directory, "SDN.CSV"),
      '\uFEFF7,"MÜLLER, Jürgen","individual","IRAN] [SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"DOB circa 1960; nationality Germany"\r\n',
    );
    writeFileSync(join(directory, "alt.csv"), '7,1,"aka","MUELLER, Juergen",-0- \r\n');
    writeFileSync(join(directory, "add.csv"), '7,1,-0- ,"Tehran","Iran",-0- \r\n');
    writeFileSync(join(directory, "sdn_comments.csv"), '7,"alt. DOB 12 Mar 1962."\r\n');
    const [entry] = parseOfac(readOfacDirectory(directory)).entries;
    expect(entry).toEqual({
      sourceRef: "7",
      type: "individual",
      primaryName: "MÜLLER, Jürgen",
      aliases: ["MUELLER, Juergen"],
      datesOfBirth: ["1959/1961", "1962-03-12"],
      countries: ["DE", "IR"],
      programs: ["IRAN", "SDGT"],
      position: null,
    });
  });

  it("decodes Windows-1252 files", () => {
    const sdn = Buffer.from([
      ...Buffer.from('8,"JOS'),
      0xc9,
      ...Buffer.from(", Mar"),
      0xed,
      ...Buffer.from('a","individual","CUBA",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n'),
    ]);
    expect(parseOfac({ sdn }).entries[0]!.primaryName).toBe("JOSÉ, María");
  });

  it("refuses a directory without sdn.csv", () => {
    const directory = mkdtempSync(join(tmpdir(), "omnicore-ofac-"));
    temporary.push(directory);
    expect(() => readOfacDirectory(directory)).toThrow(/sdn\.csv/);
  });
});

describe("remarks", () => {
  it("reads dates of birth of every precision, circa and ranges", () => {
    expect(parseDateOfBirth("12 Jan 1960")).toBe("1960-01-12");
    expect(parseDateOfBirth("Jan 1960")).toBe("1960-01");
    expect(parseDateOfBirth("1960")).toBe("1960");
    expect(parseDateOfBirth("circa 1960")).toBe("1959/1961");
    expect(parseDateOfBirth("1960 to 1962")).toBe("1960/1962");
    expect(parseDateOfBirth("01 Jan 1960 to 31 Dec 1962")).toBe("1960-01-01/1962-12-31");
    expect(parseDateOfBirth("unknown")).toBeUndefined();
  });

  it("reads nationality, citizenship and place of birth as country codes", () => {
    const facts = parseRemarks(
      "DOB 1938; alt. DOB 1936; POB Najf Al Ashraf (Najaf), Iraq; nationality Korea, North; citizen Burma; Passport 1084010 (Egypt).",
    );
    expect(facts.datesOfBirth).toEqual(["1938", "1936"]);
    expect(facts.countries).toEqual(["IQ", "KP", "MM"]);
  });

  it("knows the lists' spellings of countries", () => {
    expect(countryCode("Iran")).toBe("IR");
    expect(countryCode("Congo, Democratic Republic of the")).toBe("CD");
    expect(countryCode("Bosnia and Herzegovina")).toBe("BA");
    expect(countryCode("Turkey")).toBe("TR");
    expect(countryCode("de")).toBe("DE");
    expect(countryCode("Atlantis")).toBeUndefined();
  });
});

describe("the PEP list format", () => {
  it("reads the fixture", () => {
    const list = pepFixture();
    expect(list.source).toBe("pep");
    expect(list.entries).toHaveLength(4);
    expect(list.entries[1]).toEqual({
      sourceRef: "pep-0002",
      type: "individual",
      primaryName: "Jean-Baptiste Moreau",
      aliases: ["J.B. Moreau", "Jean Moreau"],
      datesOfBirth: ["1958"],
      countries: ["FR"],
      programs: [],
      position: "Minister of Finance",
    });
    expect(list.entries[3]!.datesOfBirth).toEqual([]);
  });

  it("refuses rows without an id or with a malformed date, and duplicate ids", () => {
    expect(() => parsePep(Buffer.from("id,name\n,Somebody\n"))).toThrow(PepListError);
    expect(() => parsePep(Buffer.from("id,name,date_of_birth\n1,Somebody,12.04.1961\n"))).toThrow(
      PepListError,
    );
    expect(() => parsePep(Buffer.from("id,name\n1,A B\n1,C D\n"))).toThrow(PepListError);
  });
});
