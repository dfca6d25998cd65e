import { randomBytes } from "node:crypto";
import type { LegacyConfig } from "../../config.ts";
import type { ConnectorFactory } from "../../platform/connectors/index.ts";
import type { RequestContext } from "../../platform/context.ts";
import type { ServiceDependencies } from "../../platform/dependencies.ts";
import { AppError } from "../../platform/errors.ts";
import type { IdempotencyStore, InFlightKeys } from "../../platform/idempotency.ts";
import { type AmountDto, toAmountDto } from "../../platform/money.ts";
import type { LedgerService } from "../ledger/index.ts";
import type { LegacyAccountRow } from "./legacy.tables.ts";
import { LegacyCoreClient, type LegacyCorePort } from "./legacy-core.client.ts";
import { type LegacyPaymentDto, LegacyPayments } from "./legacy-payments.ts";
import { type IngestResult, LegacyMirror } from "./mirror.ts";
import { LegacyReconciler, type ReconciliationReport } from "./reconciliation.ts";

/**
 * Legacy-mastered accounts behind one face: the customer's view of the mirror, payments from
 * those accounts, and the jobs every node runs (feed, sender, reconciliation).
 */

export interface LegacyServiceOptions extends ServiceDependencies {
  config: LegacyConfig;
  ledger: LedgerService;
  idempotency: IdempotencyStore;
  inFlight: InFlightKeys;
  iban: { countryCode: string; bankCode: string };
  connectors?: ConnectorFactory;
  /** Tests and tools may hand in their own port. */
  core?: LegacyCorePort;
}

export interface LegacyAccountDto {
  id: string;
  iban: string;
  currency: string;
  status: string;
  balances: { booked: AmountDto; available: AmountDto };
  /** When the legacy core last said what the balance is. */
  asOf: string;
  /** The core is down or the feed has not been read for a while: the balance may be behind. */
  stale: boolean;
}

export interface LegacyTransactionDto {
  id: string;
  bookedAt: string;
  amount: AmountDto;
  balanceAfter: AmountDto;
  reference: string;
  paymentId: string | null;
}

const TRANSACTIONS_PAGE_MAX = 200;
const SENDER_LEASE_S = 120;

export class LegacyService {
  readonly enabled: boolean;
  readonly mirror: LegacyMirror;
  readonly payments: LegacyPayments;
  readonly reconciler: LegacyReconciler;
  readonly #options: LegacyServiceOptions;

  constructor(options: LegacyServiceOptions) {
    this.#options = options;
    const { config } = options;
    const core =
      options.core ??
      (config.url
        ? new LegacyCoreClient({
            baseUrl: config.url,
            apiKey: config.apiKey,
            timeoutMs: config.timeoutMs,
            retryBackoffMaxMs: config.retryBackoffMaxMs,
            ...(options.connectors ? { connectors: options.connectors } : {}),
          })
        : undefined);
    this.enabled = core !== undefined;
    const nodeId = `node-${randomBytes(6).toString("hex")}`;
    let payments: LegacyPayments | undefined;
    this.mirror = new LegacyMirror({
      ...options,
      core,
      nodeId,
      pageMax: config.feedPageMax,
      staleAfterS: config.staleAfterS,
      onOwnPosting: (tx, paymentId, posting) => payments!.onOwnPosting(tx, paymentId, posting),
      prepare: (currencies) => payments!.prepare(currencies),
    });
    payments = new LegacyPayments({
      ...options,
      core,
      mirror: this.mirror,
      exposureMaxMinor: config.exposureMaxMinor,
      retryBackoffMaxMs: config.retryBackoffMaxMs,
      leaseS: SENDER_LEASE_S,
    });
    this.payments = payments;
    this.reconciler = new LegacyReconciler({ ...options, core, mirror: this.mirror, nodeId });
  }

  async listAccounts(customerId: string): Promise<LegacyAccountDto[]> {
    const rows = await this.mirror.accountsOf(customerId);
    const { stale } = await this.mirror.freshness();
    return Promise.all(rows.map((row) => this.#accountDto(row, stale)));
  }

  async getAccount(customerId: string, accountId: string): Promise<LegacyAccountDto> {
    const row = await this.#owned(customerId, accountId);
    return this.#accountDto(row, (await this.mirror.freshness()).stale);
  }

  async transactions(customerId: string, accountId: string, limit: number): Promise<LegacyTransactionDto[]> {
    await this.#owned(customerId, accountId);
    const rows = await this.mirror.transactionsOf(
      accountId,
      Math.min(Math.max(limit, 1), TRANSACTIONS_PAGE_MAX),
    );
    return rows.map((row) => ({
      id: row.posting_id,
      bookedAt: new Date(row.booked_at).toISOString(),
      amount: toAmountDto(BigInt(row.amount_minor), row.currency),
      balanceAfter: toAmountDto(BigInt(row.balance_after_minor), row.currency),
      reference: row.reference,
      paymentId: row.payment_id,
    }));
  }

  pay(
    context: RequestContext,
    customerId: string,
    accountId: string,
    input: { toIban: string; amount: AmountDto; reference?: string | undefined },
    idempotencyKey: string,
  ): Promise<LegacyPaymentDto> {
    return this.payments.pay(context, customerId, accountId, input, idempotencyKey);
  }

  getPayment(customerId: string, paymentId: string): Promise<LegacyPaymentDto> {
    return this.payments.get(customerId, paymentId);
  }

  /** The jobs, one pass each; the composition root runs them on timers. */
  ingest(): Promise<IngestResult> {
    return this.mirror.catchUp(10);
  }

  sendDue(): Promise<number> {
    return this.payments.sendDue(this.#options.config.sendBatchMax);
  }

  reconcile(): Promise<ReconciliationReport | undefined> {
    return this.reconciler.run();
  }

  async latestReconciliation(): Promise<ReconciliationReport> {
    const report = await this.reconciler.latest();
    if (!report) throw new AppError("not-found", "No reconciliation has run yet.");
    return report;
  }

  async #owned(customerId: string, accountId: string): Promise<LegacyAccountRow> {
    const row = await this.mirror.accountOf(customerId, accountId);
    if (!row) throw new AppError("not-found", "No such legacy account.");
    return row;
  }

  async #accountDto(row: LegacyAccountRow, stale: boolean): Promise<LegacyAccountDto> {
    const held = await this.payments.heldMinor(row.id);
    return {
      id: row.id,
      iban: row.iban,
      currency: row.currency,
      status: row.status,
      balances: {
        booked: toAmountDto(BigInt(row.booked_minor), row.currency),
        available: toAmountDto(BigInt(row.available_minor) - held, row.currency),
      },
      asOf: new Date(row.as_of).toISOString(),
      stale,
    };
  }
}
