import type { TransferLimitsConfig } from "../../config.ts";
import type { RequestContext } from "../../platform/context.ts";
import { actorId } from "../../platform/context.ts";
import { StatementBundle } from "../../platform/db/bulk.ts";
import { inTransaction, type Tx } from "../../platform/db/database.ts";
import type { ServiceDependencies } from "../../platform/dependencies.ts";
import { AppError, type ProblemSlug } from "../../platform/errors.ts";
import type { DomainEvent } from "../../platform/events/event.ts";
import { outboxStatement } from "../../platform/events/outbox.ts";
import type { IdempotencyStore, InFlightKeys, StoredResponse } from "../../platform/idempotency.ts";
import { requestHash } from "../../platform/idempotency.ts";
import { type AmountDto, parseAmount, toAmountDto } from "../../platform/money.ts";
import type { StepUpGate } from "../../platform/step-up.ts";
import type { CustomerTier } from "../customers/index.ts";
import type { EntryOutcome, LedgerService, PostingRequest, RejectionReason } from "../ledger/index.ts";
import { normalizeIban } from "../ledger/index.ts";
import { Batcher } from "./batcher.ts";
import { type LimitCandidate, type LimitKind, TransferLimitGuard } from "./limits.ts";
import { PaymentsRepository } from "./payments.repository.ts";
import type { MovementKind, TransferRow } from "./payments.tables.ts";

export interface PaymentServiceOptions extends ServiceDependencies {
  ledger: LedgerService;
  idempotency: IdempotencyStore;
  inFlight: InFlightKeys;
  transfers: { batchMax: number; queueMax: number; batchConcurrency: number; limits: TransferLimitsConfig };
  /** Customer tiers, read in the batch transaction (provided by the customers module). */
  customerTiers: (tx: Tx, customerIds: readonly string[]) => Promise<Map<string, CustomerTier>>;
  databaseConnections: number;
  /** Strong customer authentication of risky transfers (provided by the identity module). */
  stepUp: StepUpGate;
}

/**
 * Batches in flight at once. Two overlap one batch's commit with the next one's reads on
 * PostgreSQL; more mostly wait on each other's account locks (measured in bench/). PGlite has a
 * single connection, so one.
 */
function batchConcurrency(options: PaymentServiceOptions): number {
  if (options.transfers.batchConcurrency > 0) return options.transfers.batchConcurrency;
  return options.databaseConnections > 1 ? 2 : 1;
}

/** A validated money movement waiting for its batch. */
interface Movement {
  id: string;
  kind: MovementKind;
  context: RequestContext;
  scope: string;
  idempotencyKey: string;
  requestHash: string;
  /** The customer whose account is debited (transfers) or touched (cash). */
  customerId: string | null;
  /** The customer account named by the request; refused as not found if it is someone else's. */
  accountId: string;
  toIban: string | null;
  systemAccountId: string | null;
  amountMinor: bigint;
  currency: string;
  reference: string | null;
}

export interface TransferDto {
  id: string;
  status: "completed";
  fromAccountId: string;
  toIban: string;
  amount: AmountDto;
  reference: string | null;
  createdAt: string;
}

export interface CashMovementDto {
  id: string;
  kind: "deposit" | "withdrawal";
  status: "completed";
  accountId: string;
  amount: AmountDto;
  reference: string | null;
  createdAt: string;
}

interface StoredProblem {
  problem: { slug: ProblemSlug; detail: string; extensions: Record<string, unknown> };
}

const REFERENCE_MAX_LENGTH = 140;
/**
 * 10¹⁵ minor units (ten trillion euros) per movement: far above any real payment, and far enough
 * below the int8 columns' limit (9.2·10¹⁸) that balances cannot overflow.
 */
const AMOUNT_MAX_MINOR = 10n ** 15n;

/**
 * Money movement: customer transfers between accounts of the bank, teller cash deposits and
 * withdrawals. Each request is validated, then joins a batch that claims its Idempotency-Key,
 * books it through the ledger and records it, all in one transaction.
 */
export class PaymentService {
  readonly #options: PaymentServiceOptions;
  readonly #repository: PaymentsRepository;
  readonly #batcher: Batcher<Movement, StoredResponse>;
  readonly #limits: TransferLimitGuard;
  readonly #authorizing = new Set<Promise<unknown>>();

  constructor(options: PaymentServiceOptions) {
    this.#options = options;
    this.#repository = new PaymentsRepository({ db: options.db });
    this.#limits = new TransferLimitGuard({ limits: options.transfers.limits, tiers: options.customerTiers });
    this.#batcher = new Batcher({
      execute: (movements) => this.#executeBatch(movements),
      batchMax: options.transfers.batchMax,
      concurrency: batchConcurrency(options),
      queueMax: options.transfers.queueMax,
    });
  }

  async transfer(
    context: RequestContext,
    customerId: string,
    input: { fromAccountId: string; toIban: string; amount: AmountDto; reference?: string | undefined },
    idempotencyKey: string,
    stepUpProof?: string | undefined,
  ): Promise<TransferDto> {
    const money = this.#parseMoney(input.amount);
    const toIban = normalizeIban(input.toIban);
    if (!toIban) throw new AppError("invalid-iban", "toIban is not a valid IBAN (check digits or format).");
    const scope = `${customerId}:transfer`;
    await this.#tracked(
      this.#authorize(context, { customerId, scope, idempotencyKey, toIban, money, input }, stepUpProof),
    );
    const movement: Movement = {
      // The fingerprint uses the normalised IBAN: "de89 3704…" and "DE893704…" are one request.
      ...this.#baseMovement("transfer", context, scope, idempotencyKey, {
        ...input,
        toIban,
      }),
      customerId,
      accountId: input.fromAccountId,
      toIban,
      systemAccountId: null,
      ...money,
    };
    return (await this.#submit(movement)) as TransferDto;
  }

  async depositCash(
    context: RequestContext,
    accountId: string,
    input: { amount: AmountDto; reference?: string | undefined },
    idempotencyKey: string,
  ): Promise<CashMovementDto> {
    return this.#cash("deposit", context, accountId, input, idempotencyKey);
  }

  async withdrawCash(
    context: RequestContext,
    accountId: string,
    input: { amount: AmountDto; reference?: string | undefined },
    idempotencyKey: string,
  ): Promise<CashMovementDto> {
    return this.#cash("withdrawal", context, accountId, input, idempotencyKey);
  }

  async getTransfer(customerId: string, transferId: string): Promise<TransferDto> {
    const row = await this.#repository.findForCustomer(transferId, customerId);
    if (row?.status !== "completed") throw new AppError("not-found", "No such transfer.");
    return transferDto(row);
  }

  /** Finishes every queued movement; called by graceful shutdown after HTTP stopped. */
  async close(): Promise<void> {
    // Requests still being authorised reach the batcher before it drains.
    await Promise.allSettled(this.#authorizing);
    await this.#batcher.drain();
  }

  /**
   * Strong customer authentication of a transfer, before it joins a batch. Skipped when step-up
   * does not apply (turned off, or a system actor), and for a retry of a transfer that already
   * happened: its result is replayed, it was approved then.
   */
  async #authorize(
    context: RequestContext,
    transfer: {
      customerId: string;
      scope: string;
      idempotencyKey: string;
      toIban: string;
      money: { amountMinor: bigint; currency: string };
      input: { fromAccountId: string; amount: AmountDto };
    },
    stepUpProof: string | undefined,
  ): Promise<void> {
    const { stepUp, idempotency, ledger, db } = this.#options;
    if (!stepUp.appliesTo(context)) return;
    if (await idempotency.lookup(db, transfer.scope, transfer.idempotencyKey)) return;
    const { customerId, toIban, money, input } = transfer;
    // Ownership first: nobody is asked to approve a payment from an account that is not theirs.
    await ledger.getAccount(customerId, input.fromAccountId);
    const destination = await ledger.findByIban(toIban);
    await stepUp.authorizeTransfer(
      context,
      {
        customerId,
        fromAccountId: input.fromAccountId,
        payee: toIban,
        amount: input.amount.amount,
        amountMinor: money.amountMinor,
        currency: money.currency,
        ownAccount: destination?.ownerCustomerId === customerId,
      },
      stepUpProof,
    );
  }

  /** Remembers work in flight until it settles, so that `close` can wait for it. */
  async #tracked<T>(work: Promise<T>): Promise<T> {
    this.#authorizing.add(work);
    try {
      return await work;
    } finally {
      this.#authorizing.delete(work);
    }
  }

  async #cash(
    kind: "deposit" | "withdrawal",
    context: RequestContext,
    accountId: string,
    input: { amount: AmountDto; reference?: string | undefined },
    idempotencyKey: string,
  ): Promise<CashMovementDto> {
    // Cash changes hands only at a branch counter; a contact-centre session cannot do it.
    if (context.channel !== "branch")
      throw new AppError("forbidden", "Cash can only be handled on channel branch.");
    const money = this.#parseMoney(input.amount);
    const movement: Movement = {
      ...this.#baseMovement(kind, context, `${actorId(context.actor)}:${kind}`, idempotencyKey, {
        accountId,
        ...input,
      }),
      customerId: null,
      accountId,
      toIban: null,
      systemAccountId: await this.#options.ledger.systemAccount("cash", money.currency),
      ...money,
    };
    return (await this.#submit(movement)) as CashMovementDto;
  }

  #baseMovement(
    kind: MovementKind,
    context: RequestContext,
    scope: string,
    idempotencyKey: string,
    request: { reference?: string | undefined } & Record<string, unknown>,
  ) {
    const reference = request.reference ?? null;
    if (reference !== null && reference.length > REFERENCE_MAX_LENGTH) {
      throw new AppError("validation", `reference must be at most ${REFERENCE_MAX_LENGTH} characters.`);
    }
    const prefix = kind === "transfer" ? "trf" : kind === "deposit" ? "dep" : "wdl";
    return {
      id: this.#options.ids.next(prefix),
      kind,
      context,
      scope,
      idempotencyKey,
      requestHash: requestHash(request),
      reference,
    };
  }

  #parseMoney(amount: AmountDto): { amountMinor: bigint; currency: string } {
    const parsed = parseAmount(amount.amount, amount.currency);
    if (!parsed.ok) {
      if (parsed.reason === "unknown-currency") {
        throw new AppError("validation", `${amount.currency} is not an ISO 4217 currency with a minor unit.`);
      }
      const detail =
        parsed.reason === "too-many-decimals"
          ? `${amount.currency} allows fewer decimals than ${amount.amount} has.`
          : "amount must be a decimal number.";
      throw new AppError("invalid-amount", detail);
    }
    if (parsed.money.amountMinor <= 0n)
      throw new AppError("invalid-amount", "amount must be greater than zero.");
    if (parsed.money.amountMinor > AMOUNT_MAX_MINOR) {
      throw new AppError("invalid-amount", "amount is above the largest amount a single movement may have.");
    }
    return parsed.money;
  }

  async #submit(movement: Movement): Promise<TransferDto | CashMovementDto> {
    const release = this.#options.inFlight.acquire(movement.scope, movement.idempotencyKey);
    try {
      const response = await this.#batcher.submit(movement);
      const problem = (response.body as Partial<StoredProblem>).problem;
      if (problem) throw new AppError(problem.slug, problem.detail, problem.extensions);
      return response.body as TransferDto | CashMovementDto;
    } finally {
      release();
    }
  }

  /**
   * Runs a batch in one transaction. If the batch fails for a reason other than a deadlock (which
   * `inTransaction` retries), each movement runs alone, so one bad request cannot fail the others.
   */
  async #executeBatch(movements: Movement[]): Promise<Array<PromiseSettledResult<StoredResponse>>> {
    try {
      const responses = await inTransaction(this.#options.db, (tx) => this.#book(tx, movements));
      return responses.map((value) => ({ status: "fulfilled", value }));
    } catch (error) {
      if (movements.length === 1) return [{ status: "rejected", reason: error }];
      this.#options.logger.warn({ err: error, size: movements.length }, "batch failed; retrying one by one");
      return Promise.allSettled(
        movements.map((movement) =>
          inTransaction(this.#options.db, async (tx) => (await this.#book(tx, [movement]))[0]!),
        ),
      );
    }
  }

  async #book(tx: Tx, movements: Movement[]): Promise<StoredResponse[]> {
    const claims = await this.#options.idempotency.claimMany(
      tx,
      movements.map((m) => ({ scope: m.scope, key: m.idempotencyKey, requestHash: m.requestHash })),
    );
    const fresh = movements.filter((_, index) => claims[index]?.kind === "claimed");
    const now = this.#options.clock.now();
    // Limits first: they lock the customers' usage of the day before the ledger locks accounts.
    const limits = await this.#limits.decide(tx, fresh.flatMap(limitCandidate), now);
    // The ledger's writes and ours go to the database together, in one statement, at the end.
    const writes = new StatementBundle();
    const outcomes = await this.#postWithinLimits(tx, fresh, limits.rejected, writes);
    writes.add(
      this.#limits.usageStatement(
        fresh.filter((_, index) => outcomes[index]?.ok).flatMap(limitCandidate),
        limits.day,
      ),
    );
    const responses = new Map<string, StoredResponse>();
    const rows: TransferRow[] = [];
    const events: DomainEvent[] = [];
    fresh.forEach((movement, index) => {
      const outcome = outcomes[index]!;
      const row = this.#row(movement, outcome, now);
      rows.push(row);
      events.push(this.#event(movement, row));
      responses.set(movement.id, responseFor(movement, row, outcome));
    });
    await this.#persist(tx, writes, { fresh, rows, events, responses });
    return movements.map((movement, index) => {
      const claim = claims[index]!;
      if (claim.kind === "replay") return claim.response;
      if (claim.kind === "mismatch") return mismatchResponse();
      return responses.get(movement.id)!;
    });
  }

  async #persist(
    tx: Tx,
    writes: StatementBundle,
    batch: {
      fresh: Movement[];
      rows: TransferRow[];
      events: DomainEvent[];
      responses: Map<string, StoredResponse>;
    },
  ): Promise<void> {
    const { fresh, rows, events, responses } = batch;
    for (const movement of fresh) {
      if (movement.kind !== "transfer") {
        await this.#options.audit.record(tx, movement.context, {
          action: `cash.${movement.kind}`,
          subjectId: movement.accountId,
          details: { movementId: movement.id, status: rows.find((row) => row.id === movement.id)?.status },
        });
      }
    }
    writes.add(this.#repository.insertStatement(rows));
    writes.add(outboxStatement(events));
    const record = this.#options.idempotency.recordStatement(
      tx,
      fresh.map((movement) => ({
        scope: movement.scope,
        key: movement.idempotencyKey,
        response: responses.get(movement.id)!,
      })),
    );
    if (record) writes.addCounted(record.statement);
    const [recorded] = await writes.execute(tx);
    if (record) this.#options.idempotency.assertRecorded(recorded ?? 0, record.expected);
  }

  /** Books the movements within their limits; the others are refused without touching the ledger. */
  async #postWithinLimits(
    tx: Tx,
    movements: Movement[],
    overLimit: Map<string, LimitKind>,
    writes: StatementBundle,
  ): Promise<MovementOutcome[]> {
    const posted = await this.#post(
      tx,
      movements.filter((movement) => !overLimit.has(movement.id)),
      writes,
    );
    let next = 0;
    const outcomes: MovementOutcome[] = [];
    for (const movement of movements) {
      const limit = overLimit.get(movement.id);
      outcomes.push(limit ? await this.#limitRefusal(tx, movement, limit) : posted[next++]!);
    }
    return outcomes;
  }

  /**
   * Someone else's account answers 404 whatever the amount, as the ledger would: a limit must not
   * be what tells a caller that an account id exists. Only refused movements pay for this read.
   */
  async #limitRefusal(tx: Tx, movement: Movement, limit: LimitKind): Promise<MovementOutcome> {
    const owned =
      movement.customerId !== null &&
      (await this.#options.ledger.isOwner(tx, movement.customerId, movement.accountId));
    if (!owned) return { ok: false, reason: "account-not-found", accountId: movement.accountId };
    return { ok: false, reason: "limit-exceeded", limit, accountId: movement.accountId };
  }

  /** Builds one journal entry per movement and books them together (IBANs resolved by the ledger). */
  #post(tx: Tx, movements: Movement[], writes: StatementBundle): Promise<EntryOutcome[]> {
    return this.#options.ledger.postEntries(
      tx,
      movements.map((movement) => this.#entry(movement)),
      writes,
    );
  }

  #entry(movement: Movement): PostingRequest {
    const own = { accountId: movement.accountId };
    const counterpart = movement.toIban
      ? { iban: movement.toIban }
      : { accountId: movement.systemAccountId! };
    const [debit, credit] = movement.kind === "deposit" ? [counterpart, own] : [own, counterpart];
    return {
      entryId: this.#options.ids.next("jrn"),
      kind: movement.kind,
      transferId: movement.id,
      reference: movement.reference,
      currency: movement.currency,
      legs: [
        { ...debit, amountMinor: -movement.amountMinor },
        { ...credit, amountMinor: movement.amountMinor },
      ],
      requireOwner: {
        accountId: movement.accountId,
        ...(movement.customerId ? { customerId: movement.customerId } : {}),
      },
    };
  }

  #row(movement: Movement, outcome: MovementOutcome, now: Date): TransferRow {
    const counterpart = outcome.ok
      ? outcome.postings.find((p) => p.accountId !== movement.accountId)
      : undefined;
    const toAccountId = movement.kind === "deposit" ? movement.accountId : (counterpart?.accountId ?? null);
    return {
      id: movement.id,
      kind: movement.kind,
      status: outcome.ok ? "completed" : "rejected",
      rejection_reason: outcome.ok ? null : outcome.reason,
      initiator_type: movement.context.actor.type,
      initiator_id: actorId(movement.context.actor) ?? "unknown",
      customer_id: movement.customerId,
      from_account_id: movement.kind === "deposit" ? null : movement.accountId,
      to_account_id: toAccountId,
      to_iban: movement.toIban,
      amount_minor: movement.amountMinor,
      currency: movement.currency,
      reference: movement.reference,
      journal_entry_id: outcome.ok ? outcome.entryId : null,
      channel: movement.context.channel,
      device_id: movement.context.deviceId ?? null,
      request_id: movement.context.requestId,
      created_at: now,
    };
  }

  #event(movement: Movement, row: TransferRow): DomainEvent {
    const amount = toAmountDto(movement.amountMinor, movement.currency);
    const type = row.status === "completed" ? `${movement.kind}.completed` : `${movement.kind}.rejected`;
    return this.#options.events.create(movement.context, type, movement.id, {
      [`${movement.kind}Id`]: movement.id,
      fromAccountId: row.from_account_id,
      toAccountId: row.to_account_id,
      customerId: movement.customerId,
      amount,
      ...(row.rejection_reason ? { reason: row.rejection_reason } : {}),
    });
  }
}

/** A booking outcome of the ledger, or a refusal by the transfer limits before the ledger was asked. */
type MovementRejection = RejectionReason | "limit-exceeded";
type MovementOutcome =
  | EntryOutcome
  | { ok: false; reason: "limit-exceeded"; limit: LimitKind; accountId: string };

/** Customer transfers are limited; teller cash movements are not (the teller is the control). */
function limitCandidate(movement: Movement): LimitCandidate[] {
  if (movement.kind !== "transfer" || !movement.customerId) return [];
  return [
    {
      id: movement.id,
      customerId: movement.customerId,
      channel: movement.context.channel,
      amountMinor: movement.amountMinor,
      currency: movement.currency,
    },
  ];
}

function transferDto(row: TransferRow): TransferDto {
  return {
    id: row.id,
    status: "completed",
    fromAccountId: row.from_account_id!,
    toIban: row.to_iban!,
    amount: toAmountDto(BigInt(row.amount_minor), row.currency),
    reference: row.reference,
    createdAt: row.created_at.toISOString(),
  };
}

function cashDto(row: TransferRow, accountId: string): CashMovementDto {
  return {
    id: row.id,
    kind: row.kind as "deposit" | "withdrawal",
    status: "completed",
    accountId,
    amount: toAmountDto(BigInt(row.amount_minor), row.currency),
    reference: row.reference,
    createdAt: row.created_at.toISOString(),
  };
}

const REJECTION_DETAIL: Record<MovementRejection, string> = {
  "limit-exceeded":
    "The amount is above a transfer limit of the customer's tier (per transfer, per day or per channel).",
  "account-not-found": "No account of this bank has that IBAN.",
  "account-not-active": "One of the accounts is not active.",
  "currency-mismatch": "The amount's currency does not match the accounts' currency.",
  "insufficient-funds": "The available balance does not cover this amount.",
  "same-account": "The source and destination are the same account.",
};

function responseFor(movement: Movement, row: TransferRow, outcome: MovementOutcome): StoredResponse {
  if (outcome.ok) {
    const body = movement.kind === "transfer" ? transferDto(row) : cashDto(row, movement.accountId);
    return { statusCode: 201, body };
  }
  // The named account itself missing (or someone else's) is a plain 404, like any unknown id.
  const slug: ProblemSlug =
    outcome.reason === "account-not-found" && outcome.accountId === movement.accountId
      ? "not-found"
      : outcome.reason;
  const detail = slug === "not-found" ? "No such account." : REJECTION_DETAIL[outcome.reason];
  const limit = outcome.reason === "limit-exceeded" ? { limit: outcome.limit } : {};
  const problem: StoredProblem = {
    problem: { slug, detail, extensions: { [`${movement.kind}Id`]: movement.id, ...limit } },
  };
  return { statusCode: slug === "not-found" ? 404 : 422, body: problem };
}

function mismatchResponse(): StoredResponse {
  const problem: StoredProblem = {
    problem: {
      slug: "idempotency-key-reused",
      detail: "This Idempotency-Key was already used with a different request.",
      extensions: {},
    },
  };
  return { statusCode: 422, body: problem };
}
