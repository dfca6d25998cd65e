import { join } from "node:path";
import {
  type ParsedList,
  parseOfac,
  readOfacDirectory,
  readPepFile,
} from "../../src/modules/screening/index.ts";
import { createTestApp, type TestApp } from "../helpers/test-app.ts";

/**
 * Shared ground of the screening suites: the bundled OFAC snapshot parsed once per test file,
 * small OFAC lists written in the public CSV format, and apps with or without the bundled list.
 */

let bundled: ParsedList | undefined;

export function bundledOfac(): ParsedList {
  bundled ??= parseOfac(
    readOfacDirectory(join(import.meta.dirname, "..", "..", "reference-data", "sanctions", "ofac")),
  );
  return bundled;
}

export const PEP_FIXTURE = join(import.meta.dirname, "fixtures", "pep.csv");

export function pepFixture(): ParsedList {
  return readPepFile(PEP_FIXTURE);
}

export interface TinyParty {
  entNum: number;
  name: string;
  /** "-0-" is how the list writes an entity. */
  type?: "individual" | "vessel" | "-0-";
  program?: string;
  remarks?: string;
  aliases?: string[];
}

/** A small OFAC list in the published format: sdn.csv and alt.csv rows, `-0-` for empty cells. */
export function tinyOfac(parties: readonly TinyParty[]): ParsedList {
  const quoted = (value: string | undefined) => (value ? `"${value}"` : "-0- ");
  const sdn = parties
    .map((party) =>
      [
        party.entNum,
        quoted(party.name),
        party.type === "-0-" ? "-0- " : quoted(party.type ?? "individual"),
        quoted(party.program ?? "SDGT"),
        ...Array.from({ length: 7 }, () => "-0- "),
        quoted(party.remarks),
      ].join(","),
    )
    .join("\r\n");
  let altNum = 0;
  const alt = parties
    .flatMap((party) =>
      (party.aliases ?? []).map((alias) => `${party.entNum},${++altNum},"aka","${alias}",-0- `),
    )
    .join("\r\n");
  return parseOfac({ sdn: Buffer.from(`${sdn}\r\n\u001a`), alt: Buffer.from(`${alt}\r\n`) });
}

/** An app without the bundled list: the suite loads the lists it needs. */
export function createScreeningApp(env: Record<string, string> = {}): Promise<TestApp> {
  return createTestApp({
    env: {
      OMNICORE_SCREENING_BUNDLED_LIST: "off",
      OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "100000",
      OMNICORE_RATE_LIMIT_AUTH_PER_ACCOUNT_PER_MINUTE: "100000",
      ...env,
    },
  });
}
