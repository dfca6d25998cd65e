/** Time is injected so that tests and simulators can be deterministic (architecture rule 12). */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock that only moves when told to; for tests of expiry and timeouts. */
export class ManualClock implements Clock {
  #now_ms: number;
  constructor(start: Date = new Date("2026-01-01T00:00:00Z")) {
    this.#now_ms = start.getTime();
  }
  now(): Date {
    return new Date(this.#now_ms);
  }
  advance(by_ms: number): void {
    this.#now_ms += by_ms;
  }
}
