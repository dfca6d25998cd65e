import type { RequestContext } from "../../platform/context.ts";
import { inTransaction, isUniqueViolation } from "../../platform/db/database.ts";
import type { ServiceDependencies } from "../../platform/dependencies.ts";
import { AppError } from "../../platform/errors.ts";
import { appendToOutbox } from "../../platform/events/outbox.ts";
import type { CustomerService } from "../customers/index.ts";
import { type LedgerService, normalizeIban } from "../ledger/index.ts";
import { checkName, type NameCheckResult } from "./name-check.ts";
import { type PayeeRow, paymentsDb, paymentsTx } from "./payments.tables.ts";

export interface NameCheckDto {
  /** `not_applicable`: the IBAN is not an account of this bank, so there is no holder to compare. */
  result: NameCheckResult | "not_applicable";
  /** Only on a close match, so that the payer can correct a typo; never for no match. */
  registeredName?: string | undefined;
}

export interface PayeeDto {
  id: string;
  name: string;
  iban: string;
  nameCheck: NameCheckResult | "not_applicable";
  createdAt: string;
}

export interface PayeeCreatedEvent extends Record<string, unknown> {
  payeeId: string;
  customerId: string;
  nameCheck: PayeeRow["name_check"];
}

export interface PayeeDeletedEvent extends Record<string, unknown> {
  payeeId: string;
  customerId: string;
}

export interface PayeeServiceOptions extends ServiceDependencies {
  ledger: LedgerService;
  customers: CustomerService;
}

/** Saved payees with Confirmation of Payee; a payee belongs to one customer and only they see it. */
export class PayeeService {
  readonly #options: PayeeServiceOptions;

  constructor(options: PayeeServiceOptions) {
    this.#options = options;
  }

  /** Compares the name with the holder of the IBAN, when the IBAN is an account of this bank. */
  async checkName(input: { name: string; iban: string }): Promise<NameCheckDto & { iban: string }> {
    const iban = normalizeIban(input.iban);
    if (!iban) throw new AppError("invalid-iban", "iban is not a valid IBAN (check digits or format).");
    const account = await this.#options.ledger.findByIban(iban);
    const holder = account && (await this.#options.customers.get(account.ownerCustomerId));
    if (!holder) return { iban, result: "not_applicable" };
    const registered = `${holder.givenName} ${holder.familyName}`;
    const result = checkName(input.name, registered);
    return result === "close_match" ? { iban, result, registeredName: registered } : { iban, result };
  }

  async create(context: RequestContext, customerId: string, input: { name: string; iban: string }) {
    const { iban, ...check } = await this.checkName(input);
    const row: PayeeRow = {
      id: this.#options.ids.next("pye"),
      customer_id: customerId,
      name: input.name.trim(),
      iban,
      name_check: check.result,
      created_at: this.#options.clock.now(),
      deleted_at: null,
    };
    try {
      await inTransaction(this.#options.db, async (tx) => {
        await paymentsTx(tx).insertInto("payments_payees").values(row).execute();
        const data: PayeeCreatedEvent = { payeeId: row.id, customerId, nameCheck: row.name_check };
        await appendToOutbox(tx, [this.#options.events.create(context, "payee.created", row.id, data)]);
        await this.#options.audit.record(tx, context, {
          action: "payee.created",
          subjectId: row.id,
          details: { nameCheck: row.name_check },
        });
      });
    } catch (error) {
      if (isUniqueViolation(error, "payments_payees_live_idx")) {
        throw new AppError("conflict", "A payee with this IBAN is already saved.");
      }
      throw error;
    }
    return { payee: toPayeeDto(row), nameCheck: check };
  }

  async list(customerId: string): Promise<PayeeDto[]> {
    const rows = await paymentsDb(this.#options.db)
      .selectFrom("payments_payees")
      .selectAll()
      .where("customer_id", "=", customerId)
      .where("deleted_at", "is", null)
      .orderBy("created_at")
      .execute();
    return rows.map(toPayeeDto);
  }

  /** Another customer's payee answers exactly like a missing one (BOLA). */
  async delete(context: RequestContext, customerId: string, payeeId: string): Promise<void> {
    await inTransaction(this.#options.db, async (tx) => {
      const deleted = await paymentsTx(tx)
        .updateTable("payments_payees")
        .set({ deleted_at: this.#options.clock.now() })
        .where("id", "=", payeeId)
        .where("customer_id", "=", customerId)
        .where("deleted_at", "is", null)
        .executeTakeFirst();
      if (deleted.numUpdatedRows === 0n) throw new AppError("not-found", "No such payee.");
      const data: PayeeDeletedEvent = { payeeId, customerId };
      await appendToOutbox(tx, [this.#options.events.create(context, "payee.deleted", payeeId, data)]);
      await this.#options.audit.record(tx, context, { action: "payee.deleted", subjectId: payeeId });
    });
  }
}

function toPayeeDto(row: PayeeRow): PayeeDto {
  return {
    id: row.id,
    name: row.name,
    iban: row.iban,
    nameCheck: row.name_check,
    createdAt: row.created_at.toISOString(),
  };
}
