import type { RequestContext } from "../../platform/context.ts";
import type { Tx } from "../../platform/db/database.ts";
import type { ServiceDependencies } from "../../platform/dependencies.ts";
import { appendToOutbox } from "../../platform/events/outbox.ts";
import type { SubjectRef } from "./identity.repository.ts";

/** Every security event of the identity module; each is published as `security.<kind>`. */
export const SECURITY_EVENT_KINDS = [
  "login_succeeded",
  "login_failed",
  "login_denied",
  "new_device",
  "lockout_warning",
  "factor_locked",
  "factor_unlocked",
  "mfa_enrolled",
  "mfa_removed",
  "recovery_codes_generated",
  "recovery_code_used",
  "passkey_registered",
  "passkey_removed",
  "password_changed",
  "email_changed",
  "session_revoked",
  "refresh_token_reused",
  "anomaly_detected",
  "step_up_required",
  "step_up_succeeded",
  "step_up_failed",
  "device_removed",
] as const;
export type SecurityEventKind = (typeof SECURITY_EVENT_KINDS)[number];

/** The body of every `security.*` event: who, from where, and what happened. */
export interface SecurityEventData extends Record<string, unknown> {
  kind: SecurityEventKind;
  subjectType: SubjectRef["type"] | null;
  subjectId: string | null;
  sessionId: string | null;
  ip: string | null;
  country: string | null;
  location: { latitude: number; longitude: number } | null;
  details: Record<string, unknown>;
}

export interface SecurityEvent {
  kind: SecurityEventKind;
  /** Unknown when a login names an e-mail address that has no account. */
  subject: SubjectRef | undefined;
  sessionId?: string | undefined;
  /** Machine-readable facts (reason codes, factor, counts); never a secret or an e-mail address. */
  details?: Record<string, unknown>;
}

/**
 * Records a security event in the audit trail (with channel, device, IP and country) and
 * publishes it through the outbox, in the caller's transaction, so the record and the change it
 * describes commit together.
 */
export class SecurityEvents {
  readonly #options: Pick<ServiceDependencies, "events" | "audit">;

  constructor(options: Pick<ServiceDependencies, "events" | "audit">) {
    this.#options = options;
  }

  async record(tx: Tx, context: RequestContext, event: SecurityEvent): Promise<void> {
    const details = event.details ?? {};
    const data: SecurityEventData = {
      kind: event.kind,
      subjectType: event.subject?.type ?? null,
      subjectId: event.subject?.id ?? null,
      sessionId: event.sessionId ?? null,
      ip: context.origin?.ip ?? null,
      country: context.origin?.country ?? null,
      location: context.origin?.location ?? null,
      details,
    };
    const aggregateId = event.subject?.id ?? event.sessionId ?? context.requestId;
    await appendToOutbox(tx, [
      this.#options.events.create(context, `security.${event.kind}`, aggregateId, data),
    ]);
    await this.#options.audit.record(tx, context, {
      action: `security.${event.kind}`,
      ...(event.subject ? { subjectId: event.subject.id } : {}),
      details: {
        ...details,
        ...(event.sessionId ? { sessionId: event.sessionId } : {}),
        ...(data.location ? { location: data.location } : {}),
      },
    });
  }
}
