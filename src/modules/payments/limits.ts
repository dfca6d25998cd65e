import { type RawBuilder, sql } from "kysely";
import type { TransferLimitsConfig } from "../../config.ts";
import { unnestRows } from "../../platform/db/bulk.ts";
import type { Tx } from "../../platform/db/database.ts";
import type { CustomerTier } from "../customers/index.ts";

/** Which limit refused a transfer. */
export type LimitKind = "per_transaction" | "daily" | "channel_daily";

export interface LimitCandidate {
  id: string;
  customerId: string;
  channel: string;
  amountMinor: bigint;
  currency: string;
}

/** The whole day's total across channels lives in the row of this channel name. */
const ALL_CHANNELS = "*";

const USAGE_COLUMNS = [
  ["customer_id", "text"],
  ["day", "text"],
  ["channel", "text"],
  ["amount", "bigint"],
] as const;

type UsageRow = { customer_id: string; day: string; channel: string; amount: bigint };

export interface LimitDecision {
  rejected: Map<string, LimitKind>;
  /** The day the usage belongs to (UTC), for `usageStatement`. */
  day: string;
}

/**
 * Per-transaction, daily and per-channel daily transfer limits by customer tier. Runs inside the
 * batch transaction: the customers' usage rows of the day are locked (total row first, customers
 * in id order, before the ledger locks accounts), so concurrent batches on any node cannot both
 * spend the same headroom.
 */
export class TransferLimitGuard {
  readonly #limits: TransferLimitsConfig;
  readonly #tiers: (tx: Tx, customerIds: readonly string[]) => Promise<Map<string, CustomerTier>>;

  constructor(options: {
    limits: TransferLimitsConfig;
    tiers: (tx: Tx, customerIds: readonly string[]) => Promise<Map<string, CustomerTier>>;
  }) {
    this.#limits = options.limits;
    this.#tiers = options.tiers;
  }

  /** Decides in order; a transfer that fits is counted for the ones after it in the same batch. */
  async decide(tx: Tx, candidates: readonly LimitCandidate[], now: Date): Promise<LimitDecision> {
    const day = now.toISOString().slice(0, 10);
    const rejected = new Map<string, LimitKind>();
    const limited = candidates.filter((candidate) => candidate.currency === this.#limits.currency);
    if (limited.length === 0) return { rejected, day };
    const customerIds = [...new Set(limited.map((candidate) => candidate.customerId))].sort();
    const tiers = await this.#tiers(tx, customerIds);
    const used = await this.#lockUsage(tx, limited, day);
    for (const candidate of limited) {
      const limit = this.#check(candidate, tiers.get(candidate.customerId) ?? "standard", used);
      if (limit) {
        rejected.set(candidate.id, limit);
        continue;
      }
      add(used, usageKey(candidate.customerId, ALL_CHANNELS), candidate.amountMinor);
      add(used, usageKey(candidate.customerId, candidate.channel), candidate.amountMinor);
    }
    return { rejected, day };
  }

  /** Adds what was actually booked to today's usage (one statement, for the batch's bundle). */
  usageStatement(accepted: readonly LimitCandidate[], day: string): RawBuilder<unknown> | undefined {
    const totals = new Map<string, UsageRow>();
    for (const transfer of accepted.filter((candidate) => candidate.currency === this.#limits.currency)) {
      for (const channel of [ALL_CHANNELS, transfer.channel]) {
        const key = usageKey(transfer.customerId, channel);
        const row = totals.get(key) ?? { customer_id: transfer.customerId, day, channel, amount: 0n };
        row.amount += transfer.amountMinor;
        totals.set(key, row);
      }
    }
    if (totals.size === 0) return undefined;
    return sql`update payments_limit_usage u set used_minor = u.used_minor + v.amount
      from (${unnestRows(USAGE_COLUMNS, [...totals.values()])}) v
      where u.customer_id = v.customer_id and u.day = v.day::date and u.channel = v.channel
      returning 1`;
  }

  #check(candidate: LimitCandidate, tier: CustomerTier, used: Map<string, bigint>): LimitKind | undefined {
    const limits = this.#limits.tiers[tier];
    if (candidate.amountMinor > BigInt(limits.perTransactionMinor)) return "per_transaction";
    const today = (used.get(usageKey(candidate.customerId, ALL_CHANNELS)) ?? 0n) + candidate.amountMinor;
    if (today > BigInt(limits.dailyMinor)) return "daily";
    const channelCap =
      this.#limits.channelDailyMinor[candidate.channel as keyof TransferLimitsConfig["channelDailyMinor"]];
    const onChannel =
      (used.get(usageKey(candidate.customerId, candidate.channel)) ?? 0n) + candidate.amountMinor;
    if (channelCap !== undefined && onChannel > BigInt(channelCap)) return "channel_daily";
    return undefined;
  }

  /** Creates missing rows and locks the customers' rows of the day, returning what they hold. */
  async #lockUsage(tx: Tx, candidates: readonly LimitCandidate[], day: string): Promise<Map<string, bigint>> {
    const keys = new Map<string, UsageRow>();
    for (const candidate of candidates) {
      for (const channel of [ALL_CHANNELS, candidate.channel]) {
        keys.set(usageKey(candidate.customerId, channel), {
          customer_id: candidate.customerId,
          day,
          channel,
          amount: 0n,
        });
      }
    }
    const rows = [...keys.values()].sort((a, b) =>
      a.customer_id === b.customer_id
        ? a.channel < b.channel
          ? -1
          : 1
        : a.customer_id < b.customer_id
          ? -1
          : 1,
    );
    // An upsert whose update changes nothing: it creates a missing row or locks the existing one,
    // and returns today's usage, in one statement. Rows are taken in one global order (customer,
    // then channel, '*' first), so concurrent batches cannot deadlock on them.
    const locked = await sql<{ customer_id: string; channel: string; used_minor: string | number }>`
      insert into payments_limit_usage (customer_id, day, channel, used_minor)
      select customer_id, day::date, channel, amount from (${unnestRows(USAGE_COLUMNS, rows)}) v
      order by customer_id collate "C", channel collate "C"
      on conflict (customer_id, day, channel) do update set used_minor = payments_limit_usage.used_minor
      returning customer_id, channel, used_minor`.execute(tx);
    return new Map(
      locked.rows.map((row) => [usageKey(row.customer_id, row.channel), BigInt(row.used_minor)]),
    );
  }
}

function usageKey(customerId: string, channel: string): string {
  return `${customerId}\u0000${channel}`;
}

function add(map: Map<string, bigint>, key: string, amount: bigint): void {
  map.set(key, (map.get(key) ?? 0n) + amount);
}
