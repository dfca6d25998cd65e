import jaroWinkler from "talisman/metrics/jaro-winkler.js";

/**
 * Confirmation of Payee: does the name the payer typed belong to the account holder? Names are
 * compared after folding case, accents, punctuation and word order, so "Lovelace, Ada" matches
 * "Ada Lovelace"; a close match ("Ada Lovlace", "A. Lovelace") is shown with the registered name
 * so the payer can correct it; anything else is no match.
 */
export type NameCheckResult = "match" | "close_match" | "no_match";

/** Jaro-Winkler similarity from which two names are a close match (common CoP practice: 0.85–0.9). */
export const CLOSE_MATCH_MIN = 0.88;

/** Lower case, accents and punctuation removed, words sorted: the comparable form of a name. */
export function nameTokens(name: string): string[] {
  return (
    name
      .normalize("NFKD")
      .replace(/\p{M}/gu, "")
      .toLowerCase()
      // Full case folding for the one letter that changes length: "STRASSER" is "Straßer".
      .replaceAll("ß", "ss")
      .replace(/[^\p{L}\p{N}\s]/gu, " ")
      .split(/\s+/)
      .filter((token) => token !== "")
      .sort()
  );
}

/** Every initial of `short` stands for a distinct word of `full` that it starts, and the rest are equal. */
function initialsMatch(short: string[], full: string[]): boolean {
  if (short.length !== full.length) return false;
  const remaining = [...full];
  for (const token of short) {
    const exact = remaining.indexOf(token);
    const index =
      exact >= 0 ? exact : remaining.findIndex((word) => token.length === 1 && word.startsWith(token));
    if (index < 0) return false;
    remaining.splice(index, 1);
  }
  return true;
}

export function checkName(typed: string, registered: string): NameCheckResult {
  const a = nameTokens(typed);
  const b = nameTokens(registered);
  if (a.length === 0 || b.length === 0) return "no_match";
  if (a.join(" ") === b.join(" ")) return "match";
  if (initialsMatch(a, b) || initialsMatch(b, a)) return "close_match";
  return jaroWinkler(a.join(" "), b.join(" ")) >= CLOSE_MATCH_MIN ? "close_match" : "no_match";
}
