import { foldText } from "./names.ts";

/**
 * Country names as sanctions lists write them ("Korea, North", "Burma", "Iran") to ISO 3166-1
 * alpha-2 codes, so that a customer's nationality (a code) can be compared with a listed party's.
 * English names come from ICU (Intl.DisplayNames); the names below are the lists' own spellings
 * that ICU words differently.
 */
const LIST_SPELLINGS: Record<string, string> = {
  "czech republic": "CZ",
  "korea north": "KP",
  "north korea": "KP",
  "korea south": "KR",
  "south korea": "KR",
  "saint kitts and nevis": "KN",
  "saint vincent and the grenadines": "VC",
  "saint lucia": "LC",
  "west bank": "PS",
  palestinian: "PS",
  "palestinian territories": "PS",
  gaza: "PS",
  "bahamas the": "BS",
  "the bahamas": "BS",
  "virgin islands british": "VG",
  "british virgin islands": "VG",
  "congo democratic republic of the": "CD",
  "democratic republic of the congo": "CD",
  "congo republic of the": "CG",
  "republic of the congo": "CG",
  burma: "MM",
  myanmar: "MM",
  "hong kong": "HK",
  macau: "MO",
  macao: "MO",
  "the gambia": "GM",
  "gambia the": "GM",
  "cote d ivoire": "CI",
  "cote divoire": "CI",
  "ivory coast": "CI",
  turkey: "TR",
  "cabo verde": "CV",
  "cape verde": "CV",
  "macedonia the former yugoslav republic of": "MK",
  macedonia: "MK",
  "north macedonia": "MK",
  crimea: "UA",
  "northern mali": "ML",
  "united states": "US",
  "united kingdom": "GB",
  russia: "RU",
  syria: "SY",
  iran: "IR",
  laos: "LA",
  vietnam: "VN",
  "bosnia and herzegovina": "BA",
  "trinidad and tobago": "TT",
  "antigua and barbuda": "AG",
  "sao tome and principe": "ST",
  "saint pierre and miquelon": "PM",
  "heard island and mcdonald islands": "HM",
  "turks and caicos islands": "TC",
  "wallis and futuna": "WF",
};

/** Words before a country that do not change it: "possibly Palestinian", "Region: Gaza". */
const QUALIFIERS = /^(possibly|probably|reportedly|region|alt)\s+/;

function countryKey(name: string): string {
  let key = foldText(name.replace(/&/g, " and "));
  while (QUALIFIERS.test(key)) key = key.replace(QUALIFIERS, "");
  return key;
}

function buildNames(): Map<string, string> {
  const names = new Map<string, string>();
  const display = new Intl.DisplayNames(["en"], { type: "region", fallback: "code" });
  for (let first = 65; first <= 90; first++) {
    for (let second = 65; second <= 90; second++) {
      const code = String.fromCharCode(first, second);
      const name = display.of(code);
      if (name && name !== code) names.set(countryKey(name), code);
    }
  }
  for (const [name, code] of Object.entries(LIST_SPELLINGS)) names.set(name, code);
  return names;
}

let names: Map<string, string> | undefined;

/** The ISO 3166-1 alpha-2 code of a country written as a name or a code; undefined when unknown. */
export function countryCode(nameOrCode: string): string | undefined {
  const trimmed = nameOrCode.trim();
  if (/^[A-Za-z]{2}$/.test(trimmed)) return trimmed.toUpperCase();
  names ??= buildNames();
  return names.get(countryKey(trimmed));
}
