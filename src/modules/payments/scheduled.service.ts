import { sql } from "kysely";
import type { RequestContext } from "../../platform/context.ts";
import { inTransaction } from "../../platform/db/database.ts";
import type { ServiceDependencies } from "../../platform/dependencies.ts";
import { AppError } from "../../platform/errors.ts";
import { appendToOutbox } from "../../platform/events/outbox.ts";
import { type AmountDto, parseAmount, toAmountDto } from "../../platform/money.ts";
import type { StepUpGate } from "../../platform/step-up.ts";
import { type LedgerService, normalizeIban } from "../ledger/index.ts";
import type { PaymentService } from "./payment.service.ts";
import {
  paymentsDb,
  paymentsTx,
  type ScheduledFrequency,
  type ScheduledTransferRow,
} from "./payments.tables.ts";

export interface ScheduledTransferDto {
  id: string;
  fromAccountId: string;
  toIban: string;
  amount: AmountDto;
  reference: string | null;
  frequency: ScheduledFrequency;
  nextRunOn: string | null;
  endOn: string | null;
  status: ScheduledTransferRow["status"];
  createdAt: string;
}

export interface NewScheduledTransfer {
  fromAccountId: string;
  toIban: string;
  amount: AmountDto;
  reference?: string | undefined;
  frequency: ScheduledFrequency;
  firstRunOn: string;
  endOn?: string | undefined;
}

export interface ScheduledRunEvent extends Record<string, unknown> {
  orderId: string;
  runOn: string;
  transferId: string | null;
  status: "completed" | "rejected";
  reason: string | null;
}

export interface ScheduledTransferServiceOptions extends ServiceDependencies {
  payments: PaymentService;
  ledger: LedgerService;
  stepUp: StepUpGate;
  /** How long a worker holds the orders it took before another node may take them over. */
  leaseS: number;
}

/** Orders a worker takes at once; the rest wait for the next pass. */
const CLAIM_MAX = 50;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
/** Failures that say nothing about the payment itself: the run is tried again later. */
const TRANSIENT = new Set(["idempotency-key-in-flight", "service-unavailable", "internal"]);

/**
 * Scheduled and standing transfers. Set up by the customer with step-up (the approval covers
 * every run); executed by `runDue`, which every node calls on a timer. Each run goes through
 * `PaymentService.transfer` like an immediate payment (limits, funds, ownership) with an
 * Idempotency-Key made of the order and the date, so a run is booked once however many workers
 * race and whatever crashes in between.
 */
export class ScheduledTransferService {
  readonly #options: ScheduledTransferServiceOptions;

  constructor(options: ScheduledTransferServiceOptions) {
    this.#options = options;
  }

  async create(
    context: RequestContext,
    customerId: string,
    input: NewScheduledTransfer,
    proof: string | undefined,
  ): Promise<ScheduledTransferDto> {
    const { ledger, stepUp, ids, clock, db } = this.#options;
    const toIban = normalizeIban(input.toIban);
    if (!toIban) throw new AppError("invalid-iban", "toIban is not a valid IBAN (check digits or format).");
    const money = parseAmount(input.amount.amount, input.amount.currency);
    if (!money.ok || money.money.amountMinor <= 0n)
      throw new AppError("invalid-amount", "The amount must be positive.");
    const today = isoDay(clock.now());
    if (!DATE.test(input.firstRunOn) || input.firstRunOn < today) {
      throw new AppError("validation", "firstRunOn must be a date (YYYY-MM-DD), today or later.");
    }
    if (input.endOn !== undefined && (!DATE.test(input.endOn) || input.endOn < input.firstRunOn)) {
      throw new AppError("validation", "endOn must be a date on or after firstRunOn.");
    }
    await ledger.getAccount(customerId, input.fromAccountId);
    const destination = await ledger.findByIban(toIban);
    if (destination?.ownerCustomerId !== customerId) {
      await stepUp.require(
        context,
        {
          type: "scheduled_transfer",
          fromAccountId: input.fromAccountId,
          payee: toIban,
          amount: input.amount.amount,
          currency: money.money.currency,
          frequency: input.frequency,
          firstRunOn: input.firstRunOn,
        },
        proof,
      );
    }
    const row: ScheduledTransferRow = {
      id: ids.next("sto"),
      customer_id: customerId,
      from_account_id: input.fromAccountId,
      to_iban: toIban,
      amount_minor: money.money.amountMinor,
      currency: money.money.currency,
      reference: input.reference ?? null,
      frequency: input.frequency,
      next_run_on: input.firstRunOn,
      end_on: input.endOn ?? null,
      anchor_day: Number(input.firstRunOn.slice(8, 10)),
      status: "active",
      locked_until: null,
      created_at: clock.now(),
    };
    await inTransaction(db, async (tx) => {
      await paymentsTx(tx).insertInto("payments_scheduled_transfers").values(row).execute();
      await this.#options.audit.record(tx, context, {
        action: "scheduled_transfer.created",
        subjectId: row.id,
      });
    });
    return toDto(row);
  }

  async list(customerId: string): Promise<ScheduledTransferDto[]> {
    const rows = await this.#select()
      .where("customer_id", "=", customerId)
      .where("status", "!=", "cancelled")
      .orderBy("created_at")
      .execute();
    return rows.map(toDto);
  }

  /** Another customer's order answers like a missing one (BOLA). */
  async cancel(context: RequestContext, customerId: string, orderId: string): Promise<void> {
    await inTransaction(this.#options.db, async (tx) => {
      const result = await paymentsTx(tx)
        .updateTable("payments_scheduled_transfers")
        .set({ status: "cancelled", next_run_on: null })
        .where("id", "=", orderId)
        .where("customer_id", "=", customerId)
        .where("status", "=", "active")
        .executeTakeFirst();
      if (result.numUpdatedRows === 0n) throw new AppError("not-found", "No such scheduled transfer.");
      await this.#options.audit.record(tx, context, {
        action: "scheduled_transfer.cancelled",
        subjectId: orderId,
      });
    });
  }

  /** Executes every run that is due; returns how many runs were executed. Safe on every node at once. */
  async runDue(): Promise<number> {
    const claimed = await this.#claimDue();
    let executed = 0;
    for (const order of claimed) {
      try {
        await this.#execute(order);
        executed += 1;
      } catch (error) {
        // The lease runs out and a later pass (on any node) tries again with the same key.
        this.#options.logger.warn(
          { err: error, orderId: order.id },
          "scheduled transfer run failed; will retry",
        );
      }
    }
    return executed;
  }

  /** Leases due orders: skip locked, so two workers never take the same order at once. */
  async #claimDue(): Promise<ScheduledTransferRow[]> {
    const { db, clock, leaseS } = this.#options;
    const now = clock.now();
    const until = new Date(now.getTime() + leaseS * 1000);
    return inTransaction(db, async (tx) => {
      const result = await sql<ScheduledTransferRow>`
        update payments_scheduled_transfers set locked_until = ${until}
        where id in (
          select id from payments_scheduled_transfers
          where status = 'active' and next_run_on <= ${isoDay(now)}::date
            and (locked_until is null or locked_until < ${now})
          order by next_run_on, id
          limit ${CLAIM_MAX}
          for update skip locked)
        returning id, customer_id, from_account_id, to_iban, amount_minor, currency, reference, frequency,
          next_run_on::text as next_run_on, end_on::text as end_on, status, locked_until, created_at`.execute(
        tx,
      );
      return result.rows;
    });
  }

  async #execute(order: ScheduledTransferRow): Promise<void> {
    const runOn = String(order.next_run_on);
    const outcome = await this.#book(order, runOn);
    const next = nextRun(
      order.frequency,
      runOn,
      order.end_on === null ? null : String(order.end_on),
      order.anchor_day,
    );
    await inTransaction(this.#options.db, async (tx) => {
      await paymentsTx(tx)
        .insertInto("payments_scheduled_runs")
        .values({ order_id: order.id, run_on: runOn, ...outcome, executed_at: this.#options.clock.now() })
        .onConflict((conflict) => conflict.columns(["order_id", "run_on"]).doNothing())
        .execute();
      await paymentsTx(tx)
        .updateTable("payments_scheduled_transfers")
        .set({ next_run_on: next, status: next === null ? "completed" : "active", locked_until: null })
        .where("id", "=", order.id)
        .where("status", "=", "active")
        .execute();
      const data: ScheduledRunEvent = {
        orderId: order.id,
        runOn,
        transferId: outcome.transfer_id,
        status: outcome.status,
        reason: outcome.reason,
      };
      await appendToOutbox(tx, [
        this.#options.events.create(runContext(order, runOn), "scheduled_transfer.executed", order.id, data),
      ]);
    });
  }

  /** The run as a transfer; its key makes a second attempt (another worker, a retry) a replay. */
  async #book(order: ScheduledTransferRow, runOn: string) {
    const amountMinor = BigInt(order.amount_minor);
    try {
      const transfer = await this.#options.payments.transfer(
        runContext(order, runOn),
        order.customer_id,
        {
          fromAccountId: order.from_account_id,
          toIban: order.to_iban,
          amount: toAmountDto(amountMinor, order.currency),
          ...(order.reference === null ? {} : { reference: order.reference }),
        },
        `scheduled:${order.id}:${runOn}`,
      );
      return { transfer_id: transfer.id, status: "completed" as const, reason: null };
    } catch (error) {
      // A refusal is the run's outcome; anything transient is retried after the lease.
      if (!(error instanceof AppError) || TRANSIENT.has(error.slug)) throw error;
      const transferId = typeof error.extensions.transferId === "string" ? error.extensions.transferId : null;
      return { transfer_id: transferId, status: "rejected" as const, reason: error.slug };
    }
  }

  #select() {
    return paymentsDb(this.#options.db)
      .selectFrom("payments_scheduled_transfers")
      .select([
        "id",
        "customer_id",
        "from_account_id",
        "to_iban",
        "amount_minor",
        "currency",
        "reference",
        "frequency",
        sql<string | null>`next_run_on::text`.as("next_run_on"),
        sql<string | null>`end_on::text`.as("end_on"),
        "anchor_day",
        "status",
        "locked_until",
        "created_at",
      ]);
  }
}

/** The system books the run for the customer who set the order up (and approved it then). */
function runContext(order: ScheduledTransferRow, runOn: string): RequestContext {
  return {
    requestId: `scheduled-${order.id}-${runOn}`,
    channel: "system",
    deviceId: undefined,
    actor: { type: "system", id: "scheduler" },
    onBehalfOf: order.customer_id,
  };
}

function isoDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/**
 * The next date of a standing order. A monthly order keeps its anchor day, clamped to the length
 * of the month: set up on 31 January it runs 28/29 February, 31 March, 30 April.
 */
export function nextRun(
  frequency: ScheduledFrequency,
  runOn: string,
  endOn: string | null,
  anchorDay: number | null = null,
): string | null {
  if (frequency === "once") return null;
  const [year, month, day] = runOn.split("-").map(Number) as [number, number, number];
  let next: Date;
  if (frequency === "weekly") {
    next = new Date(Date.UTC(year, month - 1, day + 7));
  } else {
    const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
    next = new Date(Date.UTC(year, month, Math.min(anchorDay ?? day, lastDay)));
  }
  const iso = isoDay(next);
  return endOn !== null && iso > endOn ? null : iso;
}

function toDto(row: ScheduledTransferRow): ScheduledTransferDto {
  return {
    id: row.id,
    fromAccountId: row.from_account_id,
    toIban: row.to_iban,
    amount: toAmountDto(BigInt(row.amount_minor), row.currency),
    reference: row.reference,
    frequency: row.frequency,
    nextRunOn: row.next_run_on === null ? null : String(row.next_run_on),
    endOn: row.end_on === null ? null : String(row.end_on),
    status: row.status,
    createdAt: row.created_at.toISOString(),
  };
}
