import { describe, expect, it } from "vitest";
import { SseLimitError, SseParser } from "../src/index.ts";

const STREAM =
  '\uFEFFretry: 3000\n\n: heartbeat\n\nid: 7\nevent: account\ndata: {"seq":"7"}\n\n' +
  "id: 8\r\nevent: transaction\r\ndata: line one\r\ndata:line two\r\n\r\n" +
  "data: no id here\rid\r\r";

describe("the event-stream parser", () => {
  it("gives the same events however the text is split, whatever the line endings", () => {
    const whole = new SseParser();
    const expected = whole.feed(STREAM);
    expect(expected).toEqual([
      { id: "7", event: "account", data: '{"seq":"7"}' },
      { id: "8", event: "transaction", data: "line one\nline two" },
      { id: "", event: "message", data: "no id here" },
    ]);
    expect(whole.retryMs).toBe(3000);
    expect(whole.comments).toBe(1);
    for (let size = 1; size <= 7; size++) {
      const parser = new SseParser();
      const events = [];
      for (let start = 0; start < STREAM.length; start += size) {
        events.push(...parser.feed(STREAM.slice(start, start + size)));
      }
      expect(events).toEqual(expected);
    }
  });

  it("dispatches nothing for an event cut before its blank line", () => {
    const parser = new SseParser();
    expect(parser.feed('id: 1\ndata: {}\n\nid: 2\ndata: {"half')).toEqual([
      { id: "1", event: "message", data: "{}" },
    ]);
  });

  it("refuses a line or an event longer than its limits instead of buffering it", () => {
    const lines = new SseParser({ maxLineLength: 16, maxEventLength: 1_000 });
    expect(() => lines.feed("data: 0123456789abcdef")).toThrow(SseLimitError);
    const events = new SseParser({ maxLineLength: 100, maxEventLength: 20 });
    expect(() => events.feed("data: 0123456789\ndata: 0123456789\n")).toThrow(SseLimitError);
  });
});
