import { type Static, Type } from "typebox";
import { KycAddressSchema, KycDocumentSchema } from "./kyc/kyc.schemas.ts";
import type { ApplicationRow, ApplicationStatus, KycLevel } from "./onboarding.tables.ts";
import type { RiskRating } from "./risk-rating.ts";

/**
 * What an applicant tells us, section by section, and the application as the API shows it. The
 * sections are saved as they come (from any channel) and checked whole on submission.
 */

const CountryCode = Type.String({ pattern: "^[A-Z]{2}$", description: "ISO 3166-1 alpha-2" });
const IsoDate = Type.String({ pattern: "^\\d{4}-\\d{2}-\\d{2}$", maxLength: 10 });
const Name = Type.String({ minLength: 1, maxLength: 100 });

export const PersonalSchema = Type.Object(
  { givenName: Name, familyName: Name, dateOfBirth: IsoDate, nationality: CountryCode },
  { additionalProperties: false },
);
/** The provider's shapes: what the applicant gives is exactly what is sent for verification. */
export const AddressSchema = KycAddressSchema;
export const TaxResidenceSchema = Type.Object(
  {
    country: CountryCode,
    taxId: Type.String({ minLength: 1, maxLength: 40, pattern: "^[A-Za-z0-9 ./-]+$" }),
  },
  { additionalProperties: false },
);
export const DocumentSchema = KycDocumentSchema;
export const CONSENT_KINDS = ["terms", "privacy", "marketing"] as const;
export type ConsentKind = (typeof CONSENT_KINDS)[number];
export const ConsentAnswerSchema = Type.Object(
  {
    kind: Type.Union([Type.Literal("terms"), Type.Literal("privacy"), Type.Literal("marketing")]),
    version: Type.String({ minLength: 1, maxLength: 20, pattern: "^[A-Za-z0-9._-]+$" }),
    accepted: Type.Boolean(),
  },
  { additionalProperties: false },
);

export const ApplicationPatchSchema = Type.Object(
  {
    personal: Type.Optional(PersonalSchema),
    address: Type.Optional(AddressSchema),
    taxResidences: Type.Optional(Type.Array(TaxResidenceSchema, { minItems: 1, maxItems: 5 })),
    document: Type.Optional(DocumentSchema),
    consents: Type.Optional(Type.Array(ConsentAnswerSchema, { minItems: 1, maxItems: 3 })),
  },
  { additionalProperties: false, minProperties: 1 },
);

export type Personal = Static<typeof PersonalSchema>;
export type Address = Static<typeof AddressSchema>;
export type TaxResidence = Static<typeof TaxResidenceSchema>;
export type IdentityDocument = Static<typeof DocumentSchema>;
export type ApplicationPatch = Static<typeof ApplicationPatchSchema>;
export interface Consent {
  kind: ConsentKind;
  version: string;
  accepted: boolean;
  at: string;
}

export interface ScreeningSummary {
  screeningId: string;
  status: "clear" | "hit";
  hits: number;
  pep: boolean;
}

export interface KycSummary {
  verificationId: string;
  outcome: "approved" | "referred" | "rejected";
  reasons: string[];
  documentVerified: boolean;
  decidedAt: string;
}

export interface Decision {
  by: "kyc" | "analyst";
  staffId?: string;
  outcome: "approved" | "rejected";
  reason: string;
}

export interface ApplicationDto {
  id: string;
  customerId: string;
  status: ApplicationStatus;
  channelStarted: string;
  channelLast: string;
  personal: Personal | null;
  address: Address | null;
  taxResidences: TaxResidence[] | null;
  document: IdentityDocument | null;
  consents: Consent[];
  missing: string[];
  kycLevel: KycLevel | null;
  referralReasons: string[];
  accountId: string | null;
  submittedAt: string | null;
  decidedAt: string | null;
  activatedAt: string | null;
  createdAt: string;
  updatedAt: string;
}

/** The staff view adds what the checks found. */
export interface ApplicationReviewDto extends ApplicationDto {
  screening: ScreeningSummary | null;
  risk: RiskRating | null;
  kyc: KycSummary | null;
  decision: Decision | null;
}

export function json<T>(value: unknown): T {
  return (typeof value === "string" ? JSON.parse(value) : value) as T;
}

/** The latest answer per consent kind: an applicant may withdraw marketing later, for example. */
export function currentConsents(consents: readonly Consent[]): Map<ConsentKind, Consent> {
  const latest = new Map<ConsentKind, Consent>();
  for (const consent of consents) latest.set(consent.kind, consent);
  return latest;
}

/** What still stops the application from being submitted, as stable codes. */
export function missingSections(row: ApplicationRow): string[] {
  const missing: string[] = [];
  if (!row.personal) missing.push("personal");
  if (!row.address) missing.push("address");
  if (!row.tax_residences) missing.push("taxResidences");
  if (!row.document) missing.push("document");
  const consents = currentConsents(json<Consent[]>(row.consents));
  if (!consents.get("terms")?.accepted) missing.push("consent:terms");
  if (!consents.get("privacy")?.accepted) missing.push("consent:privacy");
  return missing;
}

function iso(value: Date | string | null): string | null {
  return value === null ? null : new Date(value).toISOString();
}

export function toApplicationDto(row: ApplicationRow): ApplicationDto {
  return {
    id: row.id,
    customerId: row.customer_id,
    status: row.status,
    channelStarted: row.channel_started,
    channelLast: row.channel_last,
    personal: json<Personal | null>(row.personal),
    address: json<Address | null>(row.address),
    taxResidences: json<TaxResidence[] | null>(row.tax_residences),
    document: json<IdentityDocument | null>(row.document),
    consents: json<Consent[]>(row.consents),
    missing: row.status === "draft" ? missingSections(row) : [],
    kycLevel: row.kyc_level,
    referralReasons: json<string[]>(row.referral_reasons),
    accountId: row.account_id,
    submittedAt: iso(row.submitted_at),
    decidedAt: iso(row.decided_at),
    activatedAt: iso(row.activated_at),
    createdAt: iso(row.created_at)!,
    updatedAt: iso(row.updated_at)!,
  };
}

export function toReviewDto(row: ApplicationRow): ApplicationReviewDto {
  return {
    ...toApplicationDto(row),
    screening: json<ScreeningSummary | null>(row.screening),
    risk: json<RiskRating | null>(row.risk),
    kyc: json<KycSummary | null>(row.kyc_result),
    decision: json<Decision | null>(row.decision),
  };
}
