import jaroWinkler from "talisman/metrics/jaro-winkler.js";
import { isInitial } from "./names.ts";

/**
 * Scoring one name against another, and the adjustments from dates of birth and countries. Names
 * are compared as sets of canonical tokens (see names.ts), so word order never matters: each
 * token of one name is paired with at most one token of the other, best pairs first.
 */

/** Token pairs less alike than this are not a pair at all (Jaro-Winkler of two different names). */
const TOKEN_SIMILARITY_MIN = 0.8;
/** An initial against a full token that starts with it ("J" / "John"): likely, not certain. */
const INITIAL_SIMILARITY = 0.9;
/** Each token of one name left without a partner while the other name also has one left over. */
const CONFLICT_PENALTY = 0.2;
/** Each token only one name has (a middle name the other omits): a small doubt, at most three. */
const EXTRA_TOKEN_PENALTY = 0.04;
const EXTRA_TOKENS_COUNTED_MAX = 3;
/** A single shared token between multi-token names ("Mohammed Khan" / "Mohammed Rahimi") is no match. */
const SINGLE_TOKEN_SCORE_MAX = 0.75;
/** One full token and initials for the rest ("M. Omar" / "Omar, Mohammed") is weaker evidence. */
const INITIALS_ONLY_SCORE_MAX = 0.88;

export function tokenSimilarity(a: string, b: string): number {
  if (a === b) return 1;
  const aInitial = isInitial(a);
  const bInitial = isInitial(b);
  if (aInitial || bInitial) {
    if (aInitial && bInitial) return 0;
    return (aInitial ? b : a).startsWith(aInitial ? a : b) ? INITIAL_SIMILARITY : 0;
  }
  // Jaro-Winkler rewards a shared prefix so much that "Martin" / "Martinez" scores 0.93; doubling
  // the distance keeps spelling variants (0.95 and up) and drops merely similar names.
  return Math.max(0, 2 * jaroWinkler(a, b) - 1);
}

interface Pair {
  similarity: number;
  left: number;
  right: number;
  /** The two tokens in sorted order: the tie-break that makes the pairing symmetric. */
  key: string;
}

function candidatePairs(left: readonly string[], right: readonly string[]): Pair[] {
  const pairs: Pair[] = [];
  for (let i = 0; i < left.length; i++) {
    for (let j = 0; j < right.length; j++) {
      const a = left[i]!;
      const b = right[j]!;
      const similarity = tokenSimilarity(a, b);
      if (similarity < TOKEN_SIMILARITY_MIN) continue;
      pairs.push({ similarity, left: i, right: j, key: a < b ? `${a} ${b}` : `${b} ${a}` });
    }
  }
  return pairs.sort((x, y) => y.similarity - x.similarity || (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
}

/**
 * How alike two names are, from 0 to 1, whatever their word order. 1 means the same tokens;
 * missing middle names cost a little, a token that contradicts one of the other name costs a lot.
 */
export function nameSimilarity(left: readonly string[], right: readonly string[]): number {
  if (left.length === 0 || right.length === 0) return 0;
  const usedLeft = new Set<number>();
  const usedRight = new Set<number>();
  let sum = 0;
  let fullMatches = 0;
  let expandedInitials = 0;
  for (const pair of candidatePairs(left, right)) {
    if (usedLeft.has(pair.left) || usedRight.has(pair.right)) continue;
    usedLeft.add(pair.left);
    usedRight.add(pair.right);
    sum += pair.similarity;
    const initials = Number(isInitial(left[pair.left]!)) + Number(isInitial(right[pair.right]!));
    if (initials === 0) fullMatches += 1;
    if (initials === 1) expandedInitials += 1;
  }
  const matched = usedLeft.size;
  if (matched === 0 || fullMatches === 0) return 0;
  const leftOver = left.length - matched;
  const rightOver = right.length - matched;
  const conflicts = Math.min(leftOver, rightOver);
  const extras = Math.min(EXTRA_TOKENS_COUNTED_MAX, Math.max(leftOver, rightOver) - conflicts);
  let score = sum / matched - conflicts * CONFLICT_PENALTY - extras * EXTRA_TOKEN_PENALTY;
  const multiToken = Math.max(left.length, right.length) > 1;
  if (multiToken && matched === 1) score = Math.min(score, SINGLE_TOKEN_SCORE_MAX);
  else if (multiToken && fullMatches === 1 && expandedInitials > 0)
    score = Math.min(score, INITIALS_ONLY_SCORE_MAX);
  return clamp(score);
}

export function clamp(score: number): number {
  return Math.min(1, Math.max(0, score));
}

// Dates of birth.

/** A listed date of birth as a closed range of days since 1970 and how precise it is. */
interface DayRange {
  fromDay: number;
  toDay: number;
}

const MS_PER_DAY = 86_400_000;

function dayOf(year: number, month: number, day: number): number {
  return Date.UTC(year, month - 1, day) / MS_PER_DAY;
}

/** "1960" → all of 1960; "1960-03" → March 1960; "1960-03-12" → that day. */
function isoRange(value: string): DayRange | undefined {
  const match = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$/.exec(value);
  if (!match) return undefined;
  const year = Number(match[1]);
  if (match[3]) {
    const day = dayOf(year, Number(match[2]), Number(match[3]));
    return { fromDay: day, toDay: day };
  }
  if (match[2]) {
    const month = Number(match[2]);
    return { fromDay: dayOf(year, month, 1), toDay: dayOf(year, month + 1, 1) - 1 };
  }
  return { fromDay: dayOf(year, 1, 1), toDay: dayOf(year + 1, 1, 1) - 1 };
}

export function dateRange(value: string): DayRange | undefined {
  const [from, to] = value.split("/");
  const start = from ? isoRange(from) : undefined;
  if (to === undefined) return start;
  const end = isoRange(to);
  return start && end ? { fromDay: start.fromDay, toDay: end.toDay } : undefined;
}

/** The subject's exact date of birth matches a listed one of day, month or year precision. */
const DOB_EXACT_BONUS = 0.1;
const DOB_MONTH_BONUS = 0.06;
const DOB_YEAR_BONUS = 0.04;
/** Within a year of a listed date: a typo or a guess on either side, not evidence either way. */
const DOB_NEAR_PENALTY = 0.05;
const DOB_NEAR_DAYS = 366;
/** Known and far from every listed date: probably a namesake. */
const DOB_MISMATCH_PENALTY = 0.2;

export type DobVerdict =
  | { kind: "unknown" }
  | { kind: "match"; bonus: number }
  | { kind: "mismatch"; penalty: number };

/** How a subject's date of birth (YYYY-MM-DD) compares with an entry's listed ones. */
export function compareDateOfBirth(subjectDob: string | undefined, listed: readonly string[]): DobVerdict {
  const subject = subjectDob ? dateRange(subjectDob) : undefined;
  const ranges = listed.map(dateRange).filter((range) => range !== undefined);
  if (!subject || ranges.length === 0) return { kind: "unknown" };
  let nearestDays = Number.POSITIVE_INFINITY;
  let bestBonus = 0;
  for (const range of ranges) {
    if (subject.fromDay >= range.fromDay && subject.toDay <= range.toDay) {
      const spanDays = range.toDay - range.fromDay;
      const bonus = spanDays === 0 ? DOB_EXACT_BONUS : spanDays <= 31 ? DOB_MONTH_BONUS : DOB_YEAR_BONUS;
      bestBonus = Math.max(bestBonus, bonus);
    }
    const distance = Math.max(range.fromDay - subject.toDay, subject.fromDay - range.toDay, 0);
    nearestDays = Math.min(nearestDays, distance);
  }
  if (bestBonus > 0) return { kind: "match", bonus: bestBonus };
  if (nearestDays <= DOB_NEAR_DAYS) return { kind: "mismatch", penalty: DOB_NEAR_PENALTY };
  return { kind: "mismatch", penalty: DOB_MISMATCH_PENALTY };
}

/** A shared country adds a little; a different one proves nothing (people move, lists are partial). */
export const COUNTRY_BONUS = 0.02;
