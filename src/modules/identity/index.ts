import { join } from "node:path";
import type { MigrationSource } from "../../platform/db/migrations.ts";
import { SECURITY_EVENT_KINDS } from "./security-events.ts";

export { registerIdentityRoutes } from "./identity.routes.ts";
export type {
  Credentials,
  CustomerDeviceRecord,
  CustomerSessionRecord,
  NewCustomerRegistration,
} from "./identity.service.ts";
export { IdentityService, STAFF_CHANNELS } from "./identity.service.ts";
export type { SubjectType } from "./identity.tables.ts";
export type { SecurityEventData, SecurityEventKind } from "./security-events.ts";
export { SECURITY_EVENT_KINDS } from "./security-events.ts";
export type {
  IssuedTokens,
  RefreshTokenReusedEvent,
  SessionRefreshedEvent,
  SessionRevokedEvent,
  SessionStartedEvent,
} from "./session.service.ts";
export type { NewStaffUser, StaffUser, StaffUserCreatedEvent } from "./staff.service.ts";

export const migrations: MigrationSource = {
  module: "identity",
  directory: join(import.meta.dirname, "migrations"),
};

/** Events this module publishes. */
export const IDENTITY_EVENTS = [
  "session.started",
  "session.refreshed",
  "session.revoked",
  "session.refresh_token_reused",
  "staff.user_created",
  ...SECURITY_EVENT_KINDS.map((kind) => `security.${kind}` as const),
] as const;
