import type { FastifyRequest } from "fastify";
import { Type } from "typebox";
import { STAFF_ROLES } from "../../platform/context.ts";
import { AppError } from "../../platform/errors.ts";
import { STEP_UP_PROOF_HEADER } from "../../platform/step-up.ts";
import { EMAIL_LENGTH_MAX } from "./email.ts";
import type { DeviceReport } from "./login.service.ts";
import { PASSWORD_LENGTH_MAX, PASSWORD_MIN_WITH_MFA } from "./password-policy.ts";
import type { IssuedTokens } from "./session.service.ts";

/** Shared request and response schemas of the identity routes. */

export const EmailSchema = Type.String({ format: "email", maxLength: EMAIL_LENGTH_MAX });
/** The service applies the full policy (15 alone, 8 with MFA, breached list); the schema bounds it. */
export const NewPasswordSchema = Type.String({
  minLength: PASSWORD_MIN_WITH_MFA,
  maxLength: PASSWORD_LENGTH_MAX,
});
export const PasswordSchema = Type.String({ minLength: 1, maxLength: PASSWORD_LENGTH_MAX });
export const NameSchema = Type.String({ minLength: 1, maxLength: 100 });
export const RoleSchema = Type.Union(STAFF_ROLES.map((role) => Type.Literal(role)));
export const ChallengeIdSchema = Type.String({ pattern: "^chl_[0-9a-f]{32}$" });
export const CustomerIdSchema = Type.String({ pattern: "^cus_[0-9a-f]{32}$" });
export const SessionIdSchema = Type.String({ pattern: "^ses_[0-9a-f]{32}$" });
export const TotpCodeSchema = Type.String({ pattern: "^[0-9]{6}$" });
export const RecoveryCodeSchema = Type.String({ minLength: 10, maxLength: 24 });
/** A WebAuthn response as @simplewebauthn/browser produces it; the library verifies its content. */
export const WebAuthnResponseSchema = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 1_024 }),
    rawId: Type.String({ minLength: 1, maxLength: 1_024 }),
    type: Type.Literal("public-key"),
    response: Type.Record(Type.String(), Type.Unknown()),
    clientExtensionResults: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    authenticatorAttachment: Type.Optional(Type.String({ maxLength: 32 })),
  },
  { additionalProperties: false },
);

export const CredentialsSchema = Type.Object(
  { email: EmailSchema, password: PasswordSchema },
  { additionalProperties: false },
);
export const RefreshSchema = Type.Object(
  { refreshToken: Type.String({ minLength: 1, maxLength: 512 }) },
  { additionalProperties: false },
);
export const FactorAnswerSchema = Type.Object(
  {
    challengeId: ChallengeIdSchema,
    totp: Type.Optional(TotpCodeSchema),
    recoveryCode: Type.Optional(RecoveryCodeSchema),
    passkey: Type.Optional(WebAuthnResponseSchema),
  },
  { additionalProperties: false },
);

export const TokensSchema = Type.Object({
  accessToken: Type.String(),
  refreshToken: Type.String(),
  expiresIn: Type.Integer({ description: "Lifetime of the access token in seconds" }),
  tokenType: Type.Literal("Bearer"),
  recoveryCodes: Type.Optional(
    Type.Array(Type.String(), {
      description: "Only after a first sign-in that enrolled an authenticator app",
    }),
  ),
});

export const WebAuthnOptionsSchema = Type.Object({
  challengeId: Type.String(),
  expiresAt: Type.String({ format: "date-time" }),
  options: Type.Record(Type.String(), Type.Unknown(), { description: "Pass to navigator.credentials as is" }),
});

export const SessionSchema = Type.Object({
  id: Type.String(),
  channel: Type.String(),
  deviceId: Type.Union([Type.String(), Type.Null()]),
  platform: Type.Union([Type.String(), Type.Null()]),
  appVersion: Type.Union([Type.String(), Type.Null()]),
  strength: Type.String(),
  country: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: "date-time" }),
  lastSeenAt: Type.String({ format: "date-time" }),
  expiresAt: Type.String({ format: "date-time" }),
  idleTimeoutS: Type.Integer(),
  current: Type.Boolean(),
});

export const ClientHeaders = Type.Object({
  "x-channel": Type.Optional(
    Type.String({ description: "mobile, web, branch, contact_centre or open_banking" }),
  ),
  "x-device-id": Type.Optional(
    Type.String({ description: "The client's stable device id, bound to the session" }),
  ),
  "x-device-platform": Type.Optional(Type.String({ maxLength: 32, description: "ios, android, web …" })),
  "x-app-version": Type.Optional(Type.String({ maxLength: 32 })),
});

export const StepUpHeaders = Type.Object({
  [STEP_UP_PROOF_HEADER]: Type.Optional(
    Type.String({
      maxLength: 200,
      description: "The proof returned by POST /v1/auth/step-up/{challengeId}, for exactly this operation",
    }),
  ),
});

const REPORT_VALUE = /^[A-Za-z0-9._+ -]{1,32}$/;

/** Platform and app version as the client reports them; informative only, never trusted for access. */
export function deviceReport(request: FastifyRequest): DeviceReport {
  const read = (name: string) => {
    const value = request.headers[name];
    if (value === undefined) return undefined;
    if (typeof value !== "string" || !REPORT_VALUE.test(value)) {
      throw new AppError("validation", `${name} must be 1 to 32 letters, digits, spaces or . _ + -`);
    }
    return value;
  };
  return { platform: read("x-device-platform"), appVersion: read("x-app-version") };
}

export function stepUpProof(request: FastifyRequest): string | undefined {
  const value = request.headers[STEP_UP_PROOF_HEADER];
  return typeof value === "string" ? value : undefined;
}

export function toTokensDto(tokens: IssuedTokens) {
  return {
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    expiresIn: tokens.expiresInS,
    tokenType: "Bearer" as const,
    ...(tokens.recoveryCodes ? { recoveryCodes: tokens.recoveryCodes } : {}),
  };
}
