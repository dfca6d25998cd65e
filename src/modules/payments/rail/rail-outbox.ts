import { sql } from "kysely";
import type { Clock } from "../../../platform/clock.ts";
import type { Db, Tx } from "../../../platform/db/database.ts";
import type { PaymentsRepository } from "../payments.repository.ts";
import { paymentsDb, paymentsTx, type TransferRow } from "../payments.tables.ts";
import { buildPacs008, NOT_PROVIDED, toIsoId } from "./iso20022.ts";

export interface RailOutboxOptions {
  db: Db;
  clock: Clock;
  repository: PaymentsRepository;
  /** Our BIC, the debtor agent of every credit transfer we send. */
  bankBic: string;
  /** The account holder's name as the debtor (provided by the customers module). */
  debtorName: (customerId: string) => Promise<string | undefined>;
  /** The IBAN of the customer's account (provided by the ledger). */
  accountIban: (customerId: string, accountId: string) => Promise<string>;
}

export interface LeasedMessage {
  transferId: string;
  endToEndId: string;
  message: string;
  attempts: number;
}

/** ISO 20022 names are at most 140 characters. */
const NAME_MAX_LENGTH = 140;

/**
 * Credit transfers waiting for the payment rail. A transfer is queued in the payment's own
 * transaction, so a crash after commit loses nothing; senders on every node lease due messages
 * with skip locked, so one message is sent by one node at a time. The pacs.008 is built on the
 * first attempt and kept, so a retry sends the very same message.
 */
export class RailOutbox {
  readonly #options: RailOutboxOptions;

  constructor(options: RailOutboxOptions) {
    this.#options = options;
  }

  async enqueue(tx: Tx, row: TransferRow): Promise<void> {
    const now = this.#options.clock.now();
    await paymentsTx(tx)
      .insertInto("payments_rail_outbound")
      .values({
        transfer_id: row.id,
        end_to_end_id: toIsoId(row.id),
        message: null,
        status: "pending",
        attempts: 0,
        next_attempt_at: now,
        locked_until: null,
        last_error: null,
        created_at: now,
        sent_at: null,
      })
      .execute();
  }

  /** Leases up to `limit` due messages for `leaseS`; another node skips them meanwhile. */
  async leaseDue(limit: number, leaseS: number): Promise<LeasedMessage[]> {
    const now = this.#options.clock.now();
    const until = new Date(now.getTime() + leaseS * 1000);
    const result = await sql<{
      transfer_id: string;
      end_to_end_id: string;
      message: string | null;
      attempts: number;
    }>`
      update payments_rail_outbound set locked_until = ${until}
      where transfer_id in (
        select transfer_id from payments_rail_outbound
        where status = 'pending' and next_attempt_at <= ${now}
          and (locked_until is null or locked_until < ${now})
        order by next_attempt_at
        limit ${limit}
        for update skip locked)
      returning transfer_id, end_to_end_id, message, attempts`.execute(this.#options.db);
    const leased: LeasedMessage[] = [];
    for (const row of result.rows) {
      leased.push({
        transferId: row.transfer_id,
        endToEndId: row.end_to_end_id,
        message: row.message ?? (await this.#build(row.transfer_id, row.end_to_end_id)),
        attempts: Number(row.attempts),
      });
    }
    return leased;
  }

  async #build(transferId: string, isoId: string): Promise<string> {
    const { db, repository } = this.#options;
    const row = await repository.find(transferId);
    if (!row?.customer_id || !row.from_account_id || !row.to_iban) {
      throw new Error(`queued rail transfer ${transferId} is incomplete`);
    }
    const payee = await paymentsDb(db)
      .selectFrom("payments_payees")
      .select("name")
      .where("customer_id", "=", row.customer_id)
      .where("iban", "=", row.to_iban)
      .where("deleted_at", "is", null)
      .executeTakeFirst();
    const now = this.#options.clock.now();
    const message = buildPacs008({
      messageId: isoId,
      createdAt: now,
      endToEndId: isoId,
      transactionId: isoId,
      amountMinor: BigInt(row.amount_minor),
      currency: row.currency,
      settlementDate: now.toISOString().slice(0, 10),
      debtorName: truncate((await this.#options.debtorName(row.customer_id)) ?? NOT_PROVIDED),
      debtorIban: await this.#options.accountIban(row.customer_id, row.from_account_id),
      debtorAgentBic: this.#options.bankBic,
      creditorName: truncate(payee?.name ?? NOT_PROVIDED),
      creditorIban: row.to_iban,
      ...(row.reference ? { remittance: row.reference } : {}),
    });
    // Kept only if no other attempt stored one first: every send of a transfer is identical.
    await sql`update payments_rail_outbound set message = ${message}
      where transfer_id = ${transferId} and message is null`.execute(db);
    const stored = await paymentsDb(db)
      .selectFrom("payments_rail_outbound")
      .select("message")
      .where("transfer_id", "=", transferId)
      .executeTakeFirstOrThrow();
    return stored.message ?? message;
  }

  async markSent(transferId: string): Promise<void> {
    await paymentsDb(this.#options.db)
      .updateTable("payments_rail_outbound")
      .set({ status: "sent", sent_at: this.#options.clock.now(), locked_until: null })
      .where("transfer_id", "=", transferId)
      .execute();
  }

  /** A transient failure: try again after `delayMs`. */
  async markRetry(transferId: string, attempts: number, delayMs: number, error: string): Promise<void> {
    const next = new Date(this.#options.clock.now().getTime() + delayMs);
    await paymentsDb(this.#options.db)
      .updateTable("payments_rail_outbound")
      .set({ attempts, next_attempt_at: next, locked_until: null, last_error: error.slice(0, 500) })
      .where("transfer_id", "=", transferId)
      .execute();
  }

  async markRefused(tx: Tx, transferId: string, error: string): Promise<void> {
    await paymentsTx(tx)
      .updateTable("payments_rail_outbound")
      .set({ status: "refused", locked_until: null, last_error: error.slice(0, 500) })
      .where("transfer_id", "=", transferId)
      .execute();
  }

  /** Messages not yet accepted by the rail. */
  async pendingCount(): Promise<number> {
    const row = await paymentsDb(this.#options.db)
      .selectFrom("payments_rail_outbound")
      .select((eb) => eb.fn.countAll<string>().as("count"))
      .where("status", "=", "pending")
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }
}

function truncate(name: string): string {
  return name.length > NAME_MAX_LENGTH ? name.slice(0, NAME_MAX_LENGTH) : name;
}
