import { type Logger, pino } from "pino";

/**
 * Paths that hold secrets or personal data. Logs are read by many people and kept for long; none
 * of these may ever reach them (security model: "never log secrets or personal data").
 */
export const REDACTED_PATHS = [
  "req.headers.authorization",
  "req.headers.cookie",
  'req.headers["idempotency-key"]',
  'req.headers["x-step-up-proof"]',
  "password",
  "*.password",
  "passwordHash",
  "*.passwordHash",
  "accessToken",
  "*.accessToken",
  "refreshToken",
  "*.refreshToken",
  "token",
  "*.token",
  "email",
  "*.email",
  "givenName",
  "*.givenName",
  "familyName",
  "*.familyName",
  "phone",
  "*.phone",
  "iban",
  "*.iban",
  "toIban",
  "*.toIban",
  "address",
  "*.address",
  "privateKey",
  "*.privateKey",
];

export function createLogger(options: { level: string; destination?: pino.DestinationStream }): Logger {
  return pino(
    {
      level: options.level,
      base: { service: "omnicore" },
      redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
      serializers: {
        req: (request: { method: string; url: string; id: string }) => ({
          method: request.method,
          // Query strings can carry personal data (an IBAN in a search); log the path only.
          url: request.url.split("?")[0],
          requestId: request.id,
        }),
      },
    },
    options.destination,
  );
}

export type { Logger };
