import type { Cache } from "../../platform/cache/cache.ts";
import type { VelocityCounts } from "./features.ts";

/**
 * Payment attempts per customer over sliding windows, kept in the shared cache so that every
 * node counts the same attempts (Redis in production). Each window is approximated by two fixed
 * buckets, the current and the previous one, the latter weighted by how much of it still lies
 * inside the window (the "sliding window counter"): two keys per window instead of one per
 * minute, and exact whenever the previous bucket is empty.
 */
const WINDOWS = [
  { name: "10m", sizeMs: 600_000 },
  { name: "1h", sizeMs: 3_600_000 },
  { name: "24h", sizeMs: 86_400_000 },
] as const;

/** Keys outlive their bucket by one more bucket (they are read as "previous") and a minute. */
function ttlS(sizeMs: number): number {
  return Math.ceil((2 * sizeMs) / 1000) + 60;
}

function keys(customerId: string, currency: string, window: string, bucket: number) {
  return {
    count: `fraud:velocity:${customerId}:${window}:${bucket}:count`,
    sum: `fraud:velocity:${customerId}:${window}:${bucket}:sum:${currency}`,
  };
}

/** Counts one attempt and returns the windows' counts and sums, this attempt included. */
export async function countAttempt(
  cache: Cache,
  attempt: { customerId: string; currency: string; amountMinor: number; now: Date },
): Promise<VelocityCounts> {
  const nowMs = attempt.now.getTime();
  const amount = Math.min(Math.max(0, Math.round(attempt.amountMinor)), Number.MAX_SAFE_INTEGER);
  const plans = WINDOWS.map((window) => {
    const bucket = Math.floor(nowMs / window.sizeMs);
    return {
      window,
      current: keys(attempt.customerId, attempt.currency, window.name, bucket),
      previous: keys(attempt.customerId, attempt.currency, window.name, bucket - 1),
      previousWeight: 1 - (nowMs - bucket * window.sizeMs) / window.sizeMs,
    };
  });
  const [currents, previous] = await Promise.all([
    Promise.all(
      plans.map((plan) =>
        Promise.all([
          cache.increment(plan.current.count, ttlS(plan.window.sizeMs)),
          cache.incrementBy(plan.current.sum, amount, ttlS(plan.window.sizeMs)),
        ]),
      ),
    ),
    cache.getMany(plans.flatMap((plan) => [plan.previous.count, plan.previous.sum])),
  ]);
  const estimate = (index: number, part: 0 | 1) =>
    (currents[index]?.[part] ?? 0) +
    Math.round(Number(previous[index * 2 + part] ?? 0) * (plans[index]?.previousWeight ?? 0));
  return {
    count10m: estimate(0, 0),
    count1h: estimate(1, 0),
    count24h: estimate(2, 0),
    sum10mMinor: estimate(0, 1),
    sum1hMinor: estimate(1, 1),
    sum24hMinor: estimate(2, 1),
  };
}
