/** Checks and environment parsing that every simulator's settings share. */

/** A fixed latency, or a uniform range to draw each one from. */
export type LatencyMs = number | { minMs: number; maxMs: number };

export function rate(name: string, value: number): number {
  if (!(value >= 0 && value <= 1)) throw new Error(`${name} must be between 0 and 1`);
  return value;
}

export function whole(name: string, value: number, minimum: number, maximum: number): number {
  if (!Number.isInteger(value) || value < minimum || value > maximum) {
    throw new Error(`${name} must be a whole number from ${minimum} to ${maximum}`);
  }
  return value;
}

export function checkedLatency(latency: LatencyMs): LatencyMs {
  if (typeof latency === "number") return whole("latencyMs", latency, 0, 3_600_000);
  whole("latencyMs.minMs", latency.minMs, 0, 3_600_000);
  whole("latencyMs.maxMs", latency.maxMs, latency.minMs, 3_600_000);
  return latency;
}

/** One latency: the fixed one, or a whole number drawn uniformly from the range. */
export function drawLatencyMs(latency: LatencyMs, random: () => number): number {
  if (typeof latency === "number") return latency;
  return latency.minMs + Math.floor(random() * (latency.maxMs - latency.minMs + 1));
}

/** Keeps at most `max` entries by dropping the oldest (a Map iterates in insertion order). */
export function remember<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.set(key, value);
  for (const oldest of map.keys()) {
    if (map.size <= max) break;
    map.delete(oldest);
  }
}

export function pushBounded<T>(list: T[], item: T, max: number): void {
  list.push(item);
  if (list.length > max) list.splice(0, list.length - max);
}

export function envNumber(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new Error(`${name} must be a number, not "${raw}"`);
  return value;
}

/** The variable `name` is a fixed `2000` or a uniform range `500-3000`. */
export function envLatency(env: NodeJS.ProcessEnv, name: string, fallback: number): LatencyMs {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const range = /^(\d+)\s*-\s*(\d+)$/.exec(raw);
  if (range) return { minMs: Number(range[1]), maxMs: Number(range[2]) };
  return envNumber(env, name, fallback);
}
