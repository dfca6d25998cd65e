/**
 * The customer's risk rating at onboarding: a few weighted factors, as a compliance officer would
 * read them. It decides whether an approved application activates on its own (low, medium) or
 * waits for an analyst (high: enhanced due diligence), and it caps the KYC level.
 */

export type RiskLevel = "low" | "medium" | "high";

export type RiskFactor =
  /** Residence, nationality or a tax residence in a country on the high-risk list. */
  | "high_risk_country"
  /** A politically exposed person. */
  | "pep"
  /** The sanctions screening found a possible match an analyst has not cleared. */
  | "screening_hit"
  /** Opened without meeting the customer (mobile, web, third party). */
  | "non_face_to_face"
  /** Taxed in a country other than the one they live in. */
  | "foreign_tax_residence";

export interface RiskInput {
  residenceCountry: string;
  nationality: string;
  taxCountries: readonly string[];
  pep: boolean;
  screeningHits: number;
  channel: string;
  highRiskCountries: ReadonlySet<string>;
}

export interface RiskRating {
  level: RiskLevel;
  score: number;
  factors: RiskFactor[];
}

const WEIGHTS: Record<RiskFactor, number> = {
  high_risk_country: 60,
  pep: 60,
  screening_hit: 60,
  non_face_to_face: 10,
  foreign_tax_residence: 15,
};
const MEDIUM_FROM = 20;
const HIGH_FROM = 60;
const FACE_TO_FACE_CHANNELS = new Set(["branch"]);

export function rateRisk(input: RiskInput): RiskRating {
  const countries = [input.residenceCountry, input.nationality, ...input.taxCountries];
  const present: Record<RiskFactor, boolean> = {
    high_risk_country: countries.some((country) => input.highRiskCountries.has(country)),
    pep: input.pep,
    screening_hit: input.screeningHits > 0,
    non_face_to_face: !FACE_TO_FACE_CHANNELS.has(input.channel),
    foreign_tax_residence: input.taxCountries.some((country) => country !== input.residenceCountry),
  };
  const factors = (Object.keys(WEIGHTS) as RiskFactor[]).filter((factor) => present[factor]);
  const score = factors.reduce((sum, factor) => sum + WEIGHTS[factor], 0);
  const level: RiskLevel = score >= HIGH_FROM ? "high" : score >= MEDIUM_FROM ? "medium" : "low";
  return { level, score, factors };
}
