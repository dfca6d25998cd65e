import type { TransferLimitsConfig } from "../../config.ts";
import { Batcher } from "../../platform/batcher.ts";
import type { ConnectorFactory } from "../../platform/connectors/index.ts";
import type { RequestContext } from "../../platform/context.ts";
import { actorId } from "../../platform/context.ts";
import { StatementBundle } from "../../platform/db/bulk.ts";
import { inTransaction, type Tx } from "../../platform/db/database.ts";
import type { ServiceDependencies } from "../../platform/dependencies.ts";
import { AppError, type ProblemSlug } from "../../platform/errors.ts";
import type { DomainEvent } from "../../platform/events/event.ts";
import { outboxStatement } from "../../platform/events/outbox.ts";
import type { FraudCaseOpener, FraudGate, HeldPayments, RiskDecision } from "../../platform/fraud.ts";
import type { IdempotencyStore, InFlightKeys, StoredResponse } from "../../platform/idempotency.ts";
import { requestHash } from "../../platform/idempotency.ts";
import { type AmountDto, parseAmount, toAmountDto } from "../../platform/money.ts";
import type { StepUpGate } from "../../platform/step-up.ts";
import type { CustomerTier } from "../customers/index.ts";
import type { EntryOutcome, LedgerService, PostingRequest, RejectionReason } from "../ledger/index.ts";
import { normalizeIban } from "../ledger/index.ts";
import { type LimitCandidate, type LimitKind, TransferLimitGuard } from "./limits.ts";
import { PaymentsRepository } from "./payments.repository.ts";
import type { MovementKind, TransferRow } from "./payments.tables.ts";
import { PendingTransfers, type SingleTransfer } from "./pending-transfers.ts";
import { RailClient } from "./rail/rail.client.ts";
import { type RailConfig, RailService } from "./rail/rail.service.ts";
import { RailOutbox } from "./rail/rail-outbox.ts";
import { historyOf, type TransferDto, transferDto } from "./transfer-lifecycle.ts";

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
  /** Fraud decisions before a payment books (provided by the fraud module); absent = none. */
  fraud: () => FraudGate | undefined;
  /** Opens the case of a payment held for review (provided by the fraud module). */
  cases: () => FraudCaseOpener;
  /** The account holder's display name, the debtor of payments to other banks. */
  customerName: (customerId: string) => Promise<string | undefined>;
  /** This bank's IBAN country and bank code: any other IBAN is at another bank. */
  iban: { countryCode: string; bankCode: string };
  rail: RailConfig;
  /** Where the rail client defines its connector (allow-list, metrics, `/ready`). */
  connectors: ConnectorFactory;
}

/** Where a validated transfer goes after its checks. */
type TransferRoute = "instant" | SingleTransfer["route"];

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
  /** The fraud decision that let it through, when one was made. */
  decisionId?: string | undefined;
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
  readonly #pending: PendingTransfers;
  /** The payment rail: the sender of queued credit transfers and the webhook's handler. */
  readonly rail: RailService;

  constructor(options: PaymentServiceOptions) {
    this.#options = options;
    this.#repository = new PaymentsRepository({ db: options.db });
    this.#limits = new TransferLimitGuard({ limits: options.transfers.limits, tiers: options.customerTiers });
    const outbox = new RailOutbox({
      db: options.db,
      clock: options.clock,
      repository: this.#repository,
      bankBic: options.rail.bankBic,
      debtorName: options.customerName,
      accountIban: async (customerId, accountId) =>
        (await options.ledger.getAccount(customerId, accountId)).iban,
    });
    this.#pending = new PendingTransfers({
      ...options,
      repository: this.#repository,
      limits: this.#limits,
      rail: outbox,
      cases: options.cases,
    });
    this.rail = new RailService({
      ...options,
      config: options.rail,
      client: options.rail.url
        ? new RailClient({
            baseUrl: options.rail.url,
            timeoutMs: options.rail.timeoutMs,
            retryBackoffMaxMs: options.rail.retryBackoffMaxMs,
            connectors: options.connectors,
          })
        : undefined,
      outbox,
      pending: this.#pending,
      repository: this.#repository,
    });
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
    const id = this.#options.ids.next("trf");
    const checked = await this.#tracked(
      this.#authorize(context, { id, customerId, scope, idempotencyKey, toIban, money, input }, stepUpProof),
    );
    const movement: Movement = {
      // The fingerprint uses the normalised IBAN: "de89 3704…" and "DE893704…" are one request.
      ...this.#baseMovement("transfer", context, scope, idempotencyKey, {
        ...input,
        toIban,
      }),
      id,
      customerId,
      accountId: input.fromAccountId,
      toIban,
      systemAccountId: null,
      ...money,
    };
    if (checked.route === "instant") {
      return (await this.#submit({ ...movement, decisionId: checked.decision?.id })) as TransferDto;
    }
    return this.#submitSingle({
      ...movement,
      customerId,
      toIban,
      fromAccountId: input.fromAccountId,
      route: checked.route,
      decision: checked.decision,
      external: checked.external,
    });
  }

  /** Investigators' actions on held payments go through this (the fraud module's port). */
  get held(): HeldPayments {
    return this.#pending;
  }

  async #submitSingle(transfer: SingleTransfer): Promise<TransferDto> {
    const release = this.#options.inFlight.acquire(transfer.scope, transfer.idempotencyKey);
    try {
      return unwrap(await this.#pending.submit(transfer)) as TransferDto;
    } finally {
      release();
    }
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

  /** Any state: a rejected or returned payment shows its reason code to the customer. */
  async getTransfer(customerId: string, transferId: string): Promise<TransferDto> {
    const row = await this.#repository.findForCustomer(transferId, customerId);
    if (!row) throw new AppError("not-found", "No such transfer.");
    return transferDto(row);
  }

  /** Finishes every queued movement; called by graceful shutdown after HTTP stopped. */
  async close(): Promise<void> {
    // Requests still being authorised reach the batcher before it drains.
    await Promise.allSettled(this.#authorizing);
    await this.#batcher.drain();
  }

  /**
   * The checks before a transfer books: ownership, the fraud decision and strong customer
   * authentication, and where the transfer goes next. A retry of a transfer that already happened
   * skips them all: its result is replayed, it was checked then. With step-up and fraud off, a
   * transfer inside the bank pays for none of this.
   */
  async #authorize(
    context: RequestContext,
    transfer: PendingCheck,
    stepUpProof: string | undefined,
  ): Promise<{ route: TransferRoute; decision: RiskDecision | undefined; external: boolean }> {
    const { stepUp, idempotency, ledger, db } = this.#options;
    const fraud = this.#options.fraud();
    const external = !this.#isOurs(transfer.toIban);
    const stepUpApplies = stepUp.appliesTo(context);
    if (!stepUpApplies && !fraud && !external) return { route: "instant", decision: undefined, external };
    if (await idempotency.lookup(db, transfer.scope, transfer.idempotencyKey)) {
      // Replayed through the batch's claim, whichever path recorded it.
      return { route: "instant", decision: undefined, external };
    }
    // Ownership first: nobody is asked to approve a payment from an account that is not theirs.
    await ledger.getAccount(transfer.customerId, transfer.input.fromAccountId);
    if (external && !this.rail.enabled) {
      throw new AppError(
        "external-transfers-unavailable",
        "Payments to other banks need a payment rail, and none is configured (OMNICORE_RAIL_URL).",
      );
    }
    const destination = external ? undefined : await ledger.findByIban(transfer.toIban);
    const ownAccount = destination?.ownerCustomerId === transfer.customerId;
    // Between the customer's own accounts no money leaves them: nothing for fraud to decide.
    const decision =
      fraud && !ownAccount ? await fraud.assessPayment(riskInput(context, transfer, external)) : undefined;
    let outcome = decision?.outcome ?? "allow";
    // Nobody is there to answer a challenge (step-up off, a standing order): an investigator decides.
    if (outcome === "challenge" && !stepUpApplies) outcome = "hold";
    if (outcome === "block") return { route: "blocked", decision, external };
    if (stepUpApplies) {
      await this.#strongAuthentication(context, transfer, ownAccount, outcome === "challenge", stepUpProof);
    }
    if (outcome === "hold") return { route: "held", decision, external };
    return { route: external ? "external" : "instant", decision, external };
  }

  /** Step-up as identity's rules ask, or always when the fraud decision is a challenge. */
  async #strongAuthentication(
    context: RequestContext,
    transfer: PendingCheck,
    ownAccount: boolean,
    challenged: boolean,
    proof: string | undefined,
  ): Promise<void> {
    const { stepUp } = this.#options;
    const { customerId, toIban, money, input } = transfer;
    if (challenged) {
      await stepUp.require(
        context,
        {
          type: "transfer",
          fromAccountId: input.fromAccountId,
          payee: toIban,
          amount: input.amount.amount,
          currency: money.currency,
        },
        proof,
      );
      return;
    }
    await stepUp.authorizeTransfer(
      context,
      {
        customerId,
        fromAccountId: input.fromAccountId,
        payee: toIban,
        amount: input.amount.amount,
        amountMinor: money.amountMinor,
        currency: money.currency,
        ownAccount,
      },
      proof,
    );
  }

  /** An IBAN of this bank: same country and bank code as the IBANs it issues. */
  #isOurs(iban: string): boolean {
    const { countryCode, bankCode } = this.#options.iban;
    return iban.startsWith(countryCode.toUpperCase()) && iban.slice(4).startsWith(bankCode.toUpperCase());
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
      return unwrap(await this.#batcher.submit(movement)) as TransferDto | CashMovementDto;
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
      movements.map((m) => ({
        scope: m.scope,
        key: m.idempotencyKey,
        requestHash: m.requestHash,
        deviceId: m.context.deviceId ?? null,
      })),
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
    const transfer = movement.kind === "transfer";
    const status = !outcome.ok ? "rejected" : transfer ? "settled" : "completed";
    return {
      id: movement.id,
      kind: movement.kind,
      status,
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
      hold_id: null,
      decision_id: movement.decisionId ?? null,
      external: false,
      // Inside the bank, received → accepted → settled happen in this one transaction.
      status_history: transfer
        ? historyOf(
            outcome.ok
              ? [
                  ["received", null],
                  ["accepted", null],
                  ["settled", null],
                ]
              : [
                  ["received", null],
                  ["rejected", outcome.reason],
                ],
            now,
          )
        : null,
      updated_at: now,
    };
  }

  #event(movement: Movement, row: TransferRow): DomainEvent {
    const amount = toAmountDto(movement.amountMinor, movement.currency);
    // In-bank transfers settle at once ("settled"); other movements are "completed".
    const booked = row.status === "completed" || row.status === "settled";
    const type = booked ? `${movement.kind}.completed` : `${movement.kind}.rejected`;
    return this.#options.events.create(movement.context, type, movement.id, {
      [`${movement.kind}Id`]: movement.id,
      fromAccountId: row.from_account_id,
      toAccountId: row.to_account_id,
      ...(movement.toIban ? { toIban: movement.toIban } : {}),
      customerId: movement.customerId,
      amount,
      ...(row.rejection_reason ? { reason: row.rejection_reason } : {}),
    });
  }
}

/** A transfer between validation and its checks. */
interface PendingCheck {
  id: string;
  customerId: string;
  scope: string;
  idempotencyKey: string;
  toIban: string;
  money: { amountMinor: bigint; currency: string };
  input: { fromAccountId: string; amount: AmountDto };
}

function riskInput(context: RequestContext, transfer: PendingCheck, external: boolean) {
  return {
    context,
    customerId: transfer.customerId,
    transferId: transfer.id,
    fromAccountId: transfer.input.fromAccountId,
    toIban: transfer.toIban,
    amountMinor: transfer.money.amountMinor,
    currency: transfer.money.currency,
    external,
  };
}

/** A stored problem becomes the error it was; a stored success is the body. */
function unwrap(response: StoredResponse): unknown {
  const problem = (response.body as Partial<StoredProblem>).problem;
  if (problem) throw new AppError(problem.slug, problem.detail, problem.extensions);
  return response.body;
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
