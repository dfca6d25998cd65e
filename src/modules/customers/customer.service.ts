import type { RequestContext } from "../../platform/context.ts";
import { inTransaction, type Tx } from "../../platform/db/database.ts";
import type { ServiceDependencies } from "../../platform/dependencies.ts";
import { AppError } from "../../platform/errors.ts";
import { appendToOutbox } from "../../platform/events/outbox.ts";
import type { StepUpGate } from "../../platform/step-up.ts";
import { type CustomerContactChanges, CustomerRepository } from "./customer.repository.ts";
import type { CustomerRow, CustomerStatus, CustomerTier, PostalAddress } from "./customer.tables.ts";

export type { PostalAddress } from "./customer.tables.ts";

export interface CustomerProfile {
  id: string;
  email: string;
  givenName: string;
  familyName: string;
  phone: string | null;
  preferredLanguage: string | null;
  address: PostalAddress | null;
  status: CustomerStatus;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewCustomer {
  email: string;
  givenName: string;
  familyName: string;
}

/** The fields a customer may change themselves; a value of null clears the field. */
export interface ProfilePatch {
  phone?: string | null;
  preferredLanguage?: string | null;
  address?: PostalAddress | null;
}

export type ProfileField = keyof ProfilePatch;

/** Event bodies carry ids and field names only: events travel far and live long. */
export interface CustomerRegisteredEvent extends Record<string, unknown> {
  customerId: string;
  channel: string;
}

export interface CustomerTierChangedEvent extends Record<string, unknown> {
  customerId: string;
  before: CustomerTier;
  after: CustomerTier;
  reason: string;
}

export interface CustomerUpdatedEvent extends Record<string, unknown> {
  customerId: string;
  fields: Array<ProfileField | "email">;
}

export interface CustomerServiceOptions extends ServiceDependencies {
  /** Strong authentication of a changed phone number (provided by the identity module). */
  stepUp: StepUpGate;
}

export const E164_PATTERN = "^\\+[1-9][0-9]{1,14}$";
export const COUNTRY_CODE_PATTERN = "^[A-Z]{2}$";
/** RFC 5321 caps a forward path at 256 octets, which leaves 254 for the address itself. */
export const EMAIL_LENGTH_MAX = 254;
export const NAME_LENGTH_MAX = 100;

/**
 * The customer record: one per person, the same on every channel. Registration itself is driven
 * by the identity module, which calls `create` inside its own transaction so that a customer
 * never exists without a credential (or the other way round).
 */
export class CustomerService {
  readonly #options: CustomerServiceOptions;
  readonly #repository: CustomerRepository;

  constructor(options: CustomerServiceOptions) {
    this.#options = options;
    this.#repository = new CustomerRepository({ db: options.db });
  }

  async create(tx: Tx, context: RequestContext, input: NewCustomer): Promise<CustomerProfile> {
    const now = this.#options.clock.now();
    const row: CustomerRow = {
      id: this.#options.ids.next("cus"),
      email: normalizeEmail(input.email),
      given_name: requireName(input.givenName, "givenName"),
      family_name: requireName(input.familyName, "familyName"),
      phone: null,
      preferred_language: null,
      address: null,
      status: "active",
      tier: "standard",
      created_at: now,
      updated_at: now,
    };
    await this.#repository.insert(tx, row);
    const data: CustomerRegisteredEvent = { customerId: row.id, channel: context.channel };
    await appendToOutbox(tx, [this.#options.events.create(context, "customer.registered", row.id, data)]);
    return toProfile(row);
  }

  async get(customerId: string): Promise<CustomerProfile | undefined> {
    const row = await this.#repository.findById(customerId);
    return row ? toProfile(row) : undefined;
  }

  /** The tiers of several customers, read inside the caller's transaction (transfer limits). */
  async tiers(tx: Tx, customerIds: readonly string[]): Promise<Map<string, CustomerTier>> {
    return this.#repository.tiers(tx, customerIds);
  }

  /**
   * Sets the tier that the KYC checks and the risk rating earned (onboarding's activation, an
   * analyst's decision). Idempotent: setting the tier a customer already has records nothing.
   * Returns the tier before, so a workflow can compensate.
   */
  async setTier(
    context: RequestContext,
    customerId: string,
    tier: CustomerTier,
    reason: string,
  ): Promise<{ before: CustomerTier; after: CustomerTier }> {
    return inTransaction(this.#options.db, async (tx) => {
      const current = await this.#repository.lockById(tx, customerId);
      if (!current) throw new AppError("not-found", "No such customer.");
      if (current.tier === tier) return { before: tier, after: tier };
      await this.#repository.setTier(tx, customerId, tier, this.#options.clock.now());
      const data: CustomerTierChangedEvent = { customerId, before: current.tier, after: tier, reason };
      await appendToOutbox(tx, [
        this.#options.events.create(context, "customer.tier_changed", customerId, data),
      ]);
      await this.#options.audit.record(tx, context, {
        action: "customer.tier_changed",
        subjectId: customerId,
        details: { reason },
        before: { tier: current.tier },
        after: { tier },
      });
      return { before: current.tier, after: tier };
    });
  }

  async exists(customerId: string): Promise<boolean> {
    return this.#repository.exists(customerId);
  }

  /**
   * A new phone number is where one-time codes and fraud calls go, so a customer changing it
   * approves the new number with strong authentication (staff act on their own authority).
   */
  async #stepUpForPhone(context: RequestContext, customerId: string, wanted: ProfilePatch, proof?: string) {
    if (wanted.phone === undefined || context.actor.type !== "customer") return;
    const current = await this.#repository.findById(customerId);
    if (!current || current.phone === wanted.phone) return;
    await this.#options.stepUp.require(context, { type: "change_phone", phone: wanted.phone }, proof);
  }

  /** The login e-mail changed (identity did the step-up); the profile follows in the same transaction. */
  async changeEmail(tx: Tx, context: RequestContext, customerId: string, email: string): Promise<void> {
    const current = await this.#repository.lockById(tx, customerId);
    if (!current) throw new AppError("not-found", "No such customer.");
    await this.#repository.update(
      tx,
      customerId,
      { email: normalizeEmail(email) },
      this.#options.clock.now(),
    );
    const data: CustomerUpdatedEvent = { customerId, fields: ["email"] };
    await appendToOutbox(tx, [this.#options.events.create(context, "customer.updated", customerId, data)]);
    await this.#options.audit.record(tx, context, {
      action: "customer.profile_updated",
      subjectId: customerId,
      details: { fields: ["email"] },
    });
  }

  /** Applies the fields that differ; an update that changes nothing records nothing. */
  async updateProfile(
    context: RequestContext,
    customerId: string,
    patch: ProfilePatch,
    stepUpProof?: string | undefined,
  ): Promise<CustomerProfile> {
    assertMayUpdate(context, customerId);
    const wanted = normalizePatch(patch);
    await this.#stepUpForPhone(context, customerId, wanted, stepUpProof);
    return inTransaction(this.#options.db, async (tx) => {
      const current = await this.#repository.lockById(tx, customerId);
      if (!current) throw new AppError("not-found", "No such customer.");
      const { changes, fields } = diffProfile(current, wanted);
      if (fields.length === 0) return toProfile(current);
      const updated = await this.#repository.update(tx, customerId, changes, this.#options.clock.now());
      const data: CustomerUpdatedEvent = { customerId, fields };
      await appendToOutbox(tx, [this.#options.events.create(context, "customer.updated", customerId, data)]);
      await this.#options.audit.record(tx, context, {
        action: "customer.profile_updated",
        subjectId: customerId,
        details: { fields },
      });
      return toProfile(updated);
    });
  }
}

function toProfile(row: CustomerRow): CustomerProfile {
  return {
    id: row.id,
    email: row.email,
    givenName: row.given_name,
    familyName: row.family_name,
    phone: row.phone,
    preferredLanguage: row.preferred_language,
    address: row.address === null ? null : normalizeAddress(row.address),
    status: row.status,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** A customer may change only their own profile; staff and system actors act for any customer. */
function assertMayUpdate(context: RequestContext, customerId: string): void {
  const actor = context.actor;
  if (actor.type === "anonymous" || (actor.type === "customer" && actor.id !== customerId)) {
    throw new AppError("forbidden", "You may only change your own profile.");
  }
}

export function normalizeEmail(email: string): string {
  const normalized = email.trim().toLowerCase();
  // The HTTP schema checks the format; this guards direct callers (seeder, CLI) against garbage.
  if (normalized.length > EMAIL_LENGTH_MAX || !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(normalized)) {
    throw new AppError("validation", "email is not a valid e-mail address.");
  }
  return normalized;
}

function requireName(value: string, field: string): string {
  const trimmed = value.trim();
  if (trimmed.length === 0 || trimmed.length > NAME_LENGTH_MAX) {
    throw new AppError("validation", `${field} must be 1 to ${NAME_LENGTH_MAX} characters.`);
  }
  return trimmed;
}

function normalizePatch(patch: ProfilePatch): ProfilePatch {
  const normalized: ProfilePatch = {};
  if (patch.phone !== undefined) normalized.phone = patch.phone === null ? null : normalizePhone(patch.phone);
  if (patch.preferredLanguage !== undefined) {
    normalized.preferredLanguage =
      patch.preferredLanguage === null ? null : canonicalLanguage(patch.preferredLanguage);
  }
  if (patch.address !== undefined) {
    normalized.address = patch.address === null ? null : validAddress(patch.address);
  }
  return normalized;
}

function normalizePhone(phone: string): string {
  if (!new RegExp(E164_PATTERN).test(phone)) {
    throw new AppError("validation", "phone must be an E.164 number such as +4915112345678.");
  }
  return phone;
}

/** Stores the canonical form ("de-de" becomes "de-DE"), so equal tags compare equal. */
function canonicalLanguage(tag: string): string {
  try {
    const [canonical] = Intl.getCanonicalLocales(tag);
    if (canonical) return canonical;
  } catch {
    // Falls through to the validation error below.
  }
  throw new AppError("validation", "preferredLanguage must be a BCP 47 language tag such as en or de-DE.");
}

function validAddress(address: PostalAddress): PostalAddress {
  if (!new RegExp(COUNTRY_CODE_PATTERN).test(address.country)) {
    throw new AppError("validation", "address.country must be an ISO 3166-1 alpha-2 code such as DE.");
  }
  const required = [address.line1, address.postalCode, address.city];
  if (required.some((value) => value.trim().length === 0)) {
    throw new AppError("validation", "address.line1, address.postalCode and address.city must not be blank.");
  }
  return normalizeAddress(address);
}

/** Builds the address with a fixed key order, so two equal addresses serialize identically. */
function normalizeAddress(address: PostalAddress): PostalAddress {
  return {
    line1: address.line1,
    ...(address.line2 === undefined ? {} : { line2: address.line2 }),
    postalCode: address.postalCode,
    city: address.city,
    country: address.country,
  };
}

function diffProfile(current: CustomerRow, wanted: ProfilePatch) {
  const changes: CustomerContactChanges = {};
  const fields: ProfileField[] = [];
  if (wanted.phone !== undefined && wanted.phone !== current.phone) {
    changes.phone = wanted.phone;
    fields.push("phone");
  }
  if (wanted.preferredLanguage !== undefined && wanted.preferredLanguage !== current.preferred_language) {
    changes.preferred_language = wanted.preferredLanguage;
    fields.push("preferredLanguage");
  }
  if (wanted.address !== undefined && !sameAddress(wanted.address, current.address)) {
    changes.address = wanted.address;
    fields.push("address");
  }
  return { changes, fields };
}

function sameAddress(left: PostalAddress | null, right: PostalAddress | null): boolean {
  if (left === null || right === null) return left === right;
  return JSON.stringify(normalizeAddress(left)) === JSON.stringify(normalizeAddress(right));
}
