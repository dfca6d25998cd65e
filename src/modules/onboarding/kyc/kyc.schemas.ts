import { type Static, Type } from "typebox";

/**
 * The KYC provider's wire format, shared by the connector and the simulator so that both speak
 * exactly one contract. What we send is strict (unknown fields refused); what the provider sends
 * us allows fields we do not know, because providers add fields without notice and a new field
 * must not stop onboarding, while every field we use is still checked.
 */

export const KYC_OUTCOMES = ["approved", "referred", "rejected"] as const;
export type KycOutcome = (typeof KYC_OUTCOMES)[number];

export const KYC_STATUSES = ["pending", ...KYC_OUTCOMES] as const;
export type KycStatus = (typeof KYC_STATUSES)[number];

export const KYC_DOCUMENT_TYPES = ["passport", "national_id", "driving_licence", "residence_permit"] as const;
export type KycDocumentType = (typeof KYC_DOCUMENT_TYPES)[number];

/** Upper bounds of the provider's messages (architecture rule 11). */
export const KYC_REFERENCE_MAX_LENGTH = 100;
export const KYC_REASONS_MAX = 20;
export const KYC_REASON_MAX_LENGTH = 64;
/** A webhook body is a few hundred bytes; anything near this is not from the provider. */
export const KYC_WEBHOOK_BODY_MAX_BYTES = 16_384;

const IsoDate = Type.String({ pattern: "^\\d{4}-\\d{2}-\\d{2}$", maxLength: 10 });
/** ISO 3166-1 alpha-2. */
const CountryCode = Type.String({ pattern: "^[A-Z]{2}$" });
const Name = Type.String({ minLength: 1, maxLength: 100 });
const Identifier = Type.String({ minLength: 1, maxLength: 100, pattern: "^[A-Za-z0-9_.:-]+$" });

export const KycAddressSchema = Type.Object(
  {
    line1: Type.String({ minLength: 1, maxLength: 200 }),
    line2: Type.Optional(Type.String({ maxLength: 200 })),
    city: Type.String({ minLength: 1, maxLength: 100 }),
    postalCode: Type.String({ minLength: 1, maxLength: 20 }),
    country: CountryCode,
  },
  { additionalProperties: false },
);

export const KycDocumentSchema = Type.Object(
  {
    type: Type.Union([
      Type.Literal("passport"),
      Type.Literal("national_id"),
      Type.Literal("driving_licence"),
      Type.Literal("residence_permit"),
    ]),
    number: Type.String({ minLength: 1, maxLength: 40, pattern: "^[A-Za-z0-9-]+$" }),
    issuingCountry: CountryCode,
    expiresOn: IsoDate,
  },
  { additionalProperties: false },
);

export const KycApplicantSchema = Type.Object(
  {
    givenName: Name,
    familyName: Name,
    dateOfBirth: IsoDate,
    nationality: CountryCode,
    address: Type.Optional(KycAddressSchema),
    document: KycDocumentSchema,
  },
  { additionalProperties: false },
);
export type KycApplicant = Static<typeof KycApplicantSchema>;

/** POST /v1/verifications. */
export const KycVerificationRequestSchema = Type.Object(
  {
    reference: Identifier,
    callbackUrl: Type.String({ minLength: 1, maxLength: 2_000, pattern: "^https?://" }),
    applicant: KycApplicantSchema,
  },
  { additionalProperties: false },
);
export type KycVerificationRequest = Static<typeof KycVerificationRequestSchema>;

/** 202 to POST /v1/verifications. */
export const KycSubmissionResponseSchema = Type.Object({
  verificationId: Identifier,
  status: Type.Literal("pending"),
});

/** GET /v1/verifications/{id}, and the `verification` of a webhook. */
export const KycVerificationResourceSchema = Type.Object({
  verificationId: Identifier,
  reference: Identifier,
  status: Type.Union([
    Type.Literal("pending"),
    Type.Literal("approved"),
    Type.Literal("referred"),
    Type.Literal("rejected"),
  ]),
  reasons: Type.Array(Type.String({ minLength: 1, maxLength: KYC_REASON_MAX_LENGTH }), {
    maxItems: KYC_REASONS_MAX,
  }),
  documentVerified: Type.Boolean(),
  decidedAt: Type.Union([Type.String({ format: "date-time", maxLength: 40 }), Type.Null()]),
});
export type KycVerificationResource = Static<typeof KycVerificationResourceSchema>;

export const KYC_WEBHOOK_EVENT_TYPE = "verification.decided";

/** The body the provider POSTs to the callback URL once it has decided. */
export const KycWebhookBodySchema = Type.Object({
  eventId: Identifier,
  type: Type.Literal(KYC_WEBHOOK_EVENT_TYPE),
  verification: KycVerificationResourceSchema,
});
export type KycWebhookBody = Static<typeof KycWebhookBodySchema>;
