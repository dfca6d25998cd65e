import { systemContext } from "../../../platform/context.ts";
import { inTransaction, type Tx } from "../../../platform/db/database.ts";
import type { ServiceDependencies } from "../../../platform/dependencies.ts";
import { AppError, assertInvariant } from "../../../platform/errors.ts";
import { appendToOutbox } from "../../../platform/events/outbox.ts";
import { toAmountDto } from "../../../platform/money.ts";
import { RAIL_SIGNATURE_HEADER, verifyWebhook } from "../../../platform/webhook-signature.ts";
import type { LedgerService } from "../../ledger/index.ts";
import type { PaymentsRepository } from "../payments.repository.ts";
import { paymentsTx, type TransferRow } from "../payments.tables.ts";
import type { PendingTransfers } from "../pending-transfers.ts";
import {
  fromIsoId,
  type InboundCreditTransfer,
  type PaymentReturn,
  type PaymentStatus,
  parsePacs002,
  parsePacs004,
  parsePacs008,
} from "./iso20022.ts";
import type { RailClient } from "./rail.client.ts";
import type { RailOutbox } from "./rail-outbox.ts";

export interface RailConfig {
  /** The rail's base URL; unset, payments to other banks are refused (nothing could carry them). */
  url: string | undefined;
  webhookSecret: string | undefined;
  webhookToleranceS: number;
  timeoutMs: number;
  bankBic: string;
  senderIntervalMs: number;
  sendBatchMax: number;
  retryBackoffMaxMs: number;
}

export interface RailServiceOptions extends ServiceDependencies {
  config: RailConfig;
  client: RailClient | undefined;
  outbox: RailOutbox;
  pending: PendingTransfers;
  repository: PaymentsRepository;
  ledger: LedgerService;
}

type MessageType = "pacs.002" | "pacs.004" | "pacs.008";

const ACCEPTED_STATUSES = new Set(["ACCP", "ACSP", "ACTC", "ACWC", "PDNG"]);
const RAIL = systemContext("payment-rail");
/** A send is leased this long; a node that dies mid-send leaves it to another after that. */
const SEND_LEASE_S = 30;

/**
 * The payment rail: sends queued credit transfers (pacs.008) and applies what the rail sends back
 * on the signed webhook: status reports (pacs.002) that accept, settle or reject a payment, returns
 * (pacs.004) and credits from other banks (pacs.008). Every message is applied once, whatever
 * the rail redelivers.
 */
export class RailService {
  readonly #options: RailServiceOptions;

  constructor(options: RailServiceOptions) {
    this.#options = options;
  }

  get enabled(): boolean {
    return this.#options.client !== undefined;
  }

  /** One pass of the sender: returns how many messages the rail accepted. */
  async sendDue(): Promise<number> {
    const { client, outbox, config, logger } = this.#options;
    if (!client) return 0;
    const due = await outbox.leaseDue(config.sendBatchMax, SEND_LEASE_S);
    let sent = 0;
    for (const message of due) {
      const result = await client.submitCreditTransfer(message.message, message.transferId);
      if (result.accepted) {
        await outbox.markSent(message.transferId);
        sent += 1;
        continue;
      }
      const attempts = message.attempts + 1;
      if (result.retryable) {
        // Retried with capped exponential backoff and jitter until the rail answers: the rail is
        // idempotent on the transfer id, and giving up could refund money the rail already moved.
        const delayMs = Math.min(config.retryBackoffMaxMs, 100 * 2 ** Math.min(attempts, 16));
        await outbox.markRetry(
          message.transferId,
          attempts,
          delayMs / 2 + Math.random() * (delayMs / 2),
          result.reason,
        );
        logger.warn({ transferId: message.transferId, attempts, reason: result.reason }, "rail send failed");
        continue;
      }
      await this.#refusedBySend(message.transferId, `${result.reason} ${result.status ?? ""}`.trim());
    }
    return sent;
  }

  /** The rail refused the message itself (4xx): the payment is rejected and the hold released. */
  async #refusedBySend(transferId: string, error: string): Promise<void> {
    await inTransaction(this.#options.db, async (tx) => {
      await this.#options.outbox.markRefused(tx, transferId, error);
      const row = await this.#options.repository.lock(tx, transferId);
      if (row && (row.status === "received" || row.status === "accepted")) {
        await this.#reject(tx, row, "rail_refused");
      }
    });
  }

  /**
   * Verifies and applies one webhook delivery. Answers `duplicate` for a message already applied
   * (the rail retries until it sees a 2xx), and throws `webhook-signature-invalid` for a bad,
   * missing or stale signature.
   */
  async receive(
    rawBody: string,
    headers: { signature: string | undefined; messageType: string | undefined },
  ): Promise<{ messageId: string; duplicate: boolean }> {
    this.#verify(rawBody, headers.signature);
    const type = messageTypeOf(rawBody, headers.messageType);
    const parsed = parse(type, rawBody);
    if (parsed.type === "pacs.002") {
      const ids = parsed.statuses.flatMap((status) => fromIsoId(status.originalEndToEndId) ?? []);
      parsed.currencies = await this.#options.repository.currencies(ids);
    }
    // Accounts of the clearing side are created outside the transaction that uses them.
    const clearing = new Map<string, string>();
    for (const currency of parsed.currencies) {
      clearing.set(currency, await this.#options.ledger.systemAccount("clearing", currency));
    }
    return inTransaction(this.#options.db, async (tx) => {
      const fresh = await paymentsTx(tx)
        .insertInto("payments_rail_inbound")
        .values({ message_id: parsed.messageId, message_type: type, received_at: this.#options.clock.now() })
        .onConflict((conflict) => conflict.doNothing())
        .returning("message_id")
        .executeTakeFirst();
      if (!fresh) return { messageId: parsed.messageId, duplicate: true };
      if (parsed.type === "pacs.002")
        for (const status of parsed.statuses) await this.#status(tx, status, clearing);
      if (parsed.type === "pacs.004")
        for (const item of parsed.returns) await this.#return(tx, item, clearing);
      if (parsed.type === "pacs.008")
        for (const credit of parsed.credits) await this.#credit(tx, credit, clearing);
      return { messageId: parsed.messageId, duplicate: false };
    });
  }

  #verify(rawBody: string, header: string | undefined): void {
    const { webhookSecret, webhookToleranceS } = this.#options.config;
    // Without a secret nothing can be verified, so nothing is accepted.
    if (!webhookSecret) throw new AppError("webhook-signature-invalid", "No webhook secret is configured.");
    const result = verifyWebhook({
      secret: webhookSecret,
      header,
      rawBody,
      nowS: Math.floor(this.#options.clock.now().getTime() / 1000),
      toleranceS: webhookToleranceS,
    });
    if (!result.ok) {
      throw new AppError(
        "webhook-signature-invalid",
        `The ${RAIL_SIGNATURE_HEADER} header is ${result.reason}.`,
        {
          reason: result.reason,
        },
      );
    }
  }

  async #status(tx: Tx, status: PaymentStatus, clearing: Map<string, string>): Promise<void> {
    const row = await this.#ownExternal(tx, status.originalEndToEndId);
    if (!row || (row.status !== "received" && row.status !== "accepted")) return;
    if (status.status === "RJCT") {
      await this.#reject(tx, row, status.reasonCode ?? "rail_rejected");
      return;
    }
    if (status.status === "ACSC") {
      const outcome = await this.#options.ledger.captureHold(tx, {
        holdId: row.hold_id!,
        creditAccountId: clearing.get(row.currency)!,
        transferId: row.id,
      });
      // The rail has settled: the money has left. A capture cannot be refused by a clearing
      // account (it may go negative), so a refusal here is a broken invariant, not a decision.
      assertInvariant(outcome.ok, `capture of a settled rail payment was refused: ${row.id}`);
      const settled = await this.#options.pending.move(tx, RAIL, row, "settled", null, {
        journal_entry_id: outcome.entryId,
      });
      await this.#options.pending.publishCompleted(tx, RAIL, settled);
      return;
    }
    if (ACCEPTED_STATUSES.has(status.status) && row.status === "received") {
      await this.#options.pending.move(tx, RAIL, row, "accepted", null);
    }
  }

  async #reject(tx: Tx, row: TransferRow, reasonCode: string): Promise<void> {
    await this.#options.ledger.releaseHold(tx, row.hold_id!);
    const rejected = await this.#options.pending.move(tx, RAIL, row, "rejected", reasonCode, {
      rejection_reason: reasonCode,
    });
    await appendToOutbox(tx, [
      this.#options.events.create(RAIL, "transfer.rejected", row.id, {
        transferId: row.id,
        fromAccountId: row.from_account_id,
        toAccountId: null,
        toIban: row.to_iban,
        customerId: row.customer_id,
        amount: toAmountDto(BigInt(row.amount_minor), row.currency),
        reason: rejected.rejection_reason,
      }),
    ]);
  }

  /** A settled payment came back: the money is credited back to the customer's account. */
  async #return(tx: Tx, item: PaymentReturn, clearing: Map<string, string>): Promise<void> {
    const row = await this.#ownExternal(tx, item.originalEndToEndId);
    if (row?.status !== "settled") return;
    // A return never credits more than was sent.
    const amountMinor =
      item.returnedAmountMinor < BigInt(row.amount_minor)
        ? item.returnedAmountMinor
        : BigInt(row.amount_minor);
    const entryId = this.#options.ids.next("jrn");
    const [outcome] = await this.#options.ledger.postEntries(tx, [
      {
        entryId,
        kind: "rail_return",
        transferId: row.id,
        reference: row.reference,
        currency: row.currency,
        legs: [
          { accountId: clearing.get(row.currency)!, amountMinor: -amountMinor },
          { accountId: row.from_account_id!, amountMinor },
        ],
      },
    ]);
    if (!outcome?.ok) {
      // The customer's account cannot take the credit (closed, say): left for operations.
      this.#options.logger.error({ transferId: row.id, reason: outcome?.reason }, "rail return not booked");
      return;
    }
    const reasonCode = item.reasonCode ?? "rail_returned";
    await this.#options.pending.move(tx, RAIL, row, "returned", reasonCode, { rejection_reason: reasonCode });
  }

  /** Money from another bank for one of our customers, booked once per end-to-end id. */
  async #credit(tx: Tx, credit: InboundCreditTransfer, clearing: Map<string, string>): Promise<void> {
    const now = this.#options.clock.now();
    const transferId = this.#options.ids.next("trf");
    const fresh = await paymentsTx(tx)
      .insertInto("payments_inbound_credits")
      .values({ end_to_end_id: credit.endToEndId, transfer_id: transferId, received_at: now })
      .onConflict((conflict) => conflict.doNothing())
      .returning("transfer_id")
      .executeTakeFirst();
    if (!fresh) return;
    const account = await this.#options.ledger.findByIban(credit.creditorIban, tx);
    const entryId = this.#options.ids.next("jrn");
    const [outcome] = account
      ? await this.#options.ledger.postEntries(tx, [
          {
            entryId,
            kind: "inbound_credit",
            transferId,
            reference: credit.remittance ?? null,
            currency: credit.currency,
            legs: [
              { accountId: clearing.get(credit.currency)!, amountMinor: -credit.amountMinor },
              { accountId: account.id, amountMinor: credit.amountMinor },
            ],
            requireOwner: { accountId: account.id },
          },
        ])
      : [{ ok: false as const, reason: "account-not-found" as const }];
    const booked = outcome?.ok === true;
    const row = inboundRow({ transferId, credit, now, booked, accountId: account?.id ?? null, entryId });
    if (!booked) row.rejection_reason = outcome?.reason ?? "account-not-found";
    await this.#options.repository.insert(tx, { ...row, customer_id: account?.ownerCustomerId ?? null });
    await appendToOutbox(tx, [
      this.#options.events.create(
        RAIL,
        booked ? "inbound_credit.booked" : "inbound_credit.rejected",
        transferId,
        {
          transferId,
          toAccountId: account?.id ?? null,
          customerId: account?.ownerCustomerId ?? null,
          amount: toAmountDto(credit.amountMinor, credit.currency),
          ...(booked ? {} : { reason: row.rejection_reason }),
        },
      ),
    ]);
  }

  async #ownExternal(tx: Tx, endToEndId: string): Promise<TransferRow | undefined> {
    const transferId = fromIsoId(endToEndId);
    if (!transferId) return undefined;
    const row = await this.#options.repository.lock(tx, transferId);
    return row?.external ? row : undefined;
  }
}

function inboundRow(input: {
  transferId: string;
  credit: InboundCreditTransfer;
  now: Date;
  booked: boolean;
  accountId: string | null;
  entryId: string;
}): TransferRow {
  const { transferId, credit, now, booked } = input;
  const at = now.toISOString();
  const last = booked ? "settled" : "rejected";
  return {
    id: transferId,
    kind: "inbound_credit",
    status: last,
    rejection_reason: null,
    initiator_type: "system",
    initiator_id: "payment-rail",
    customer_id: null,
    from_account_id: null,
    to_account_id: input.accountId,
    to_iban: credit.creditorIban,
    amount_minor: credit.amountMinor,
    currency: credit.currency,
    reference: credit.remittance ?? null,
    journal_entry_id: booked ? input.entryId : null,
    channel: "system",
    device_id: null,
    request_id: null,
    created_at: now,
    hold_id: null,
    decision_id: null,
    external: true,
    status_history: JSON.stringify([
      { status: "received", reasonCode: null, at },
      { status: last, reasonCode: null, at },
    ]),
    updated_at: now,
  };
}

type ParsedMessage =
  | { type: "pacs.002"; messageId: string; currencies: string[]; statuses: PaymentStatus[] }
  | { type: "pacs.004"; messageId: string; currencies: string[]; returns: PaymentReturn[] }
  | { type: "pacs.008"; messageId: string; currencies: string[]; credits: InboundCreditTransfer[] };

function parse(type: MessageType, xml: string): ParsedMessage {
  if (type === "pacs.002") {
    const message = parsePacs002(xml);
    return { type, messageId: message.messageId, currencies: [], statuses: statusesOf(message) };
  }
  if (type === "pacs.004") {
    const message = parsePacs004(xml);
    const currencies = [...new Set(message.returns.map((item) => item.currency))];
    return { type, messageId: message.messageId, currencies, returns: message.returns };
  }
  const message = parsePacs008(xml);
  const currencies = [...new Set(message.transactions.map((item) => item.currency))];
  return { type, messageId: message.messageId, currencies, credits: message.transactions };
}

/** A group status applies to every transaction of the original message (one, for ours). */
function statusesOf(message: ReturnType<typeof parsePacs002>): PaymentStatus[] {
  if (message.statuses.length > 0 || !message.groupStatus) return message.statuses;
  return [{ originalEndToEndId: message.originalMessageId, status: message.groupStatus }];
}

function messageTypeOf(xml: string, header: string | undefined): MessageType {
  const named = header ?? /urn:iso:std:iso:20022:tech:xsd:(pacs\.00[248])\./.exec(xml)?.[1];
  for (const type of ["pacs.002", "pacs.004", "pacs.008"] as const) {
    if (named?.startsWith(type)) return type;
  }
  throw new AppError("validation", "The message is not a pacs.002, pacs.004 or pacs.008.");
}
