import { type RequestContext, STAFF_ROLES, type StaffRole, systemContext } from "../../platform/context.ts";
import { inTransaction, isUniqueViolation, type Tx } from "../../platform/db/database.ts";
import type { ServiceDependencies } from "../../platform/dependencies.ts";
import { AppError } from "../../platform/errors.ts";
import { appendToOutbox } from "../../platform/events/outbox.ts";
import { normalizeEmail } from "./email.ts";
import type { IdentityRepository } from "./identity.repository.ts";
import type { StaffUserRow } from "./identity.tables.ts";
import { generatePassword, type PasswordHasher } from "./password.ts";

export interface StaffUser {
  id: string;
  email: string;
  role: StaffRole;
  status: StaffUserRow["status"];
  createdAt: Date;
}

export interface NewStaffUser {
  email: string;
  password: string;
  role: StaffRole;
}

export interface StaffUserCreatedEvent extends Record<string, unknown> {
  staffId: string;
  role: StaffRole;
}

export interface StaffServiceOptions extends Omit<ServiceDependencies, "logger"> {
  repository: IdentityRepository;
  passwords: PasswordHasher;
}

export const INITIAL_ADMIN_EMAIL = "admin@omnicore.local";

/** Staff users of the back office. Only an admin (or the system itself) creates them. */
export class StaffService {
  readonly #options: StaffServiceOptions;

  constructor(options: StaffServiceOptions) {
    this.#options = options;
  }

  async create(context: RequestContext, input: NewStaffUser): Promise<StaffUser> {
    assertMayManageStaff(context);
    const email = normalizeEmail(input.email);
    if (!STAFF_ROLES.includes(input.role)) throw new AppError("validation", "role is not a staff role.");
    const passwordHash = await this.#options.passwords.hash(input.password);
    try {
      return await inTransaction(this.#options.db, (tx) =>
        this.#insert(tx, context, { email, role: input.role }, passwordHash),
      );
    } catch (error) {
      if (isUniqueViolation(error, "identity_staff_users_email_key"))
        throw new AppError("email-taken", "A staff user with this e-mail already exists.");
      throw error;
    }
  }

  /**
   * Creates the first admin when there is no staff user at all, so that a fresh installation can
   * be administered; returns undefined once any staff user exists. A generated password is
   * returned exactly once, for the operator to write down.
   */
  async ensureInitialAdmin(
    input: { email?: string | undefined; password?: string | undefined } = {},
  ): Promise<{ email: string; generatedPassword?: string } | undefined> {
    const { db, repository, passwords } = this.#options;
    if (await inTransaction(db, (tx) => repository.anyStaffUser(tx))) return undefined;
    const email = normalizeEmail(input.email ?? INITIAL_ADMIN_EMAIL);
    const generatedPassword = input.password === undefined ? generatePassword() : undefined;
    const passwordHash = await passwords.hash(input.password ?? generatedPassword!);
    const context = systemContext("initial-admin");
    const created = await inTransaction(db, async (tx) => {
      // The lock makes the re-check and the insert atomic across nodes that start together.
      await repository.lockInitialAdmin(tx);
      if (await repository.anyStaffUser(tx)) return false;
      await this.#insert(tx, context, { email, role: "admin" }, passwordHash);
      return true;
    });
    if (!created) return undefined;
    return generatedPassword === undefined ? { email } : { email, generatedPassword };
  }

  async #insert(
    tx: Tx,
    context: RequestContext,
    input: { email: string; role: StaffRole },
    passwordHash: string,
  ): Promise<StaffUser> {
    const { ids, clock, repository, events, audit } = this.#options;
    const actor = context.actor;
    const row: StaffUserRow = {
      id: ids.next("stf"),
      email: input.email,
      password_hash: passwordHash,
      role: input.role,
      status: "active",
      created_at: clock.now(),
      created_by: actor.type === "staff" || actor.type === "system" ? actor.id : null,
      credential_changed_at: null,
    };
    await repository.insertStaffUser(tx, row);
    const data: StaffUserCreatedEvent = { staffId: row.id, role: row.role };
    await appendToOutbox(tx, [events.create(context, "staff.user_created", row.id, data)]);
    await audit.record(tx, context, {
      action: "staff.user_created",
      subjectId: row.id,
      details: { role: row.role },
    });
    return toStaffUser(row);
  }
}

function toStaffUser(row: StaffUserRow): StaffUser {
  return { id: row.id, email: row.email, role: row.role, status: row.status, createdAt: row.created_at };
}

/** The route guard already demands an admin; this keeps direct callers (CLI, seeder) honest too. */
function assertMayManageStaff(context: RequestContext): void {
  const actor = context.actor;
  if (actor.type === "system") return;
  if (actor.type === "staff" && actor.role === "admin") return;
  throw new AppError("forbidden", "Only an admin may create staff users.");
}
