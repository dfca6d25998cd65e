import { type SyncItem, syncAll, syncPage } from "../../../test/sync/sync.helpers.ts";
import { applyItems, emptyState } from "../../src/index.ts";
import type { RealBank } from "./real-app.ts";

/**
 * What the server itself says, asked straight (app.inject, no proxy, no SDK) with a separate
 * session of the payer's: the oracle the SDK's results are compared against.
 */

/** The kinds a snapshot carries (notifications: the newest 20); deltas carry security alerts too. */
export const SNAPSHOT_KINDS = ["account", "payee", "notification", "transfer", "transaction"] as const;

export function pickKinds(
  entities: Record<string, Record<string, unknown>>,
  kinds: readonly string[] = SNAPSHOT_KINDS,
): Record<string, Record<string, unknown>> {
  return Object.fromEntries(kinds.filter((kind) => entities[kind]).map((kind) => [kind, entities[kind]!]));
}

/** A fresh first sync (no cursor), followed to its end, as kind → id → data. */
export async function freshSnapshot(bank: RealBank): Promise<Record<string, Record<string, unknown>>> {
  const first = await syncPage(bank.app, bank.payer.token, undefined, 500);
  let state = applyItems(emptyState(), first.items);
  if (first.hasMore)
    state = applyItems(state, (await syncAll(bank.app, bank.payer.token, first.nextCursor)).items);
  return state.entities;
}

/** Every entry of the payer's log after `cursor`, uncompacted (one-entry pages compact nothing). */
export async function logEntries(bank: RealBank, cursor: string): Promise<SyncItem[]> {
  const items: SyncItem[] = [];
  let current = cursor;
  for (let page = 0; page < 2_000; page++) {
    const body = await syncPage(bank.app, bank.payer.token, current, 1);
    items.push(...body.items);
    current = body.nextCursor;
    if (!body.hasMore) return items;
  }
  throw new Error("the log did not end");
}

/** The payer's log after `cursor`, compacted (cheap enough to poll). */
export async function compactedLog(bank: RealBank, cursor: string): Promise<SyncItem[]> {
  return (await syncAll(bank.app, bank.payer.token, cursor)).items;
}
