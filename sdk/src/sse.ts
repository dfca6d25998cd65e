/**
 * An incremental parser for `text/event-stream` (the WHATWG event-stream format): fed decoded
 * text in chunks of any size, it returns the events completed by each chunk. Bounded: a line or an
 * event's data longer than the limits throws `SseLimitError`, so a broken or hostile server cannot
 * make the client buffer without end.
 */

export interface SseEvent {
  /** The last `id:` seen on the stream (it carries over, as in EventSource). */
  id: string | undefined;
  /** `event:`, or "message". */
  event: string;
  data: string;
}

export interface SseLimits {
  /** Characters in one line. */
  maxLineLength: number;
  /** Characters of `data:` in one event. */
  maxEventLength: number;
}

export const DEFAULT_SSE_LIMITS: SseLimits = { maxLineLength: 1_048_576, maxEventLength: 1_048_576 };

export class SseLimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SseLimitError";
  }
}

export class SseParser {
  readonly #limits: SseLimits;
  #partial = "";
  #afterCarriageReturn = false;
  #started = false;
  #data: string[] = [];
  #dataLength = 0;
  #event = "";
  #lastId: string | undefined;
  /** The last `retry:` the server asked for, in milliseconds. */
  retryMs: number | undefined;
  /** Comment lines seen (heartbeats). */
  comments = 0;

  constructor(limits: SseLimits = DEFAULT_SSE_LIMITS) {
    this.#limits = limits;
  }

  feed(chunk: string): SseEvent[] {
    let text = chunk;
    if (!this.#started && text.length > 0) {
      this.#started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    // A CR at the end of the previous chunk and an LF at the start of this one are one line break.
    if (this.#afterCarriageReturn && text.startsWith("\n")) text = text.slice(1);
    this.#afterCarriageReturn = false;
    const events: SseEvent[] = [];
    let lineStart = 0;
    for (let index = 0; index < text.length; index++) {
      const code = text.charCodeAt(index);
      if (code !== 10 && code !== 13) continue;
      const line = this.#partial + text.slice(lineStart, index);
      this.#partial = "";
      this.#checkLine(line.length);
      this.#line(line, events);
      if (code === 13) {
        if (index + 1 === text.length) this.#afterCarriageReturn = true;
        else if (text.charCodeAt(index + 1) === 10) index++;
      }
      lineStart = index + 1;
    }
    this.#partial += text.slice(lineStart);
    this.#checkLine(this.#partial.length);
    return events;
  }

  #checkLine(length: number): void {
    if (length > this.#limits.maxLineLength) {
      throw new SseLimitError(`an event-stream line is longer than ${this.#limits.maxLineLength} characters`);
    }
  }

  #line(line: string, events: SseEvent[]): void {
    if (line === "") {
      if (this.#data.length > 0) {
        events.push({ id: this.#lastId, event: this.#event || "message", data: this.#data.join("\n") });
      }
      this.#data = [];
      this.#dataLength = 0;
      this.#event = "";
      return;
    }
    if (line.startsWith(":")) {
      this.comments++;
      return;
    }
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "data":
        this.#dataLength += value.length + 1;
        if (this.#dataLength > this.#limits.maxEventLength) {
          throw new SseLimitError(`an event's data is longer than ${this.#limits.maxEventLength} characters`);
        }
        this.#data.push(value);
        return;
      case "event":
        this.#event = value;
        return;
      case "id":
        if (!value.includes("\u0000")) this.#lastId = value;
        return;
      case "retry":
        if (/^\d{1,9}$/.test(value)) this.retryMs = Number(value);
        return;
      default:
        return;
    }
  }
}
