import { describe, expect, it } from "vitest";
import { isId, uuidV7Ids } from "../../src/platform/ids.ts";

describe("ids", () => {
  it("are prefixed, unique and sort in the order they were made", () => {
    const ids = Array.from({ length: 20_000 }, () => uuidV7Ids.next("trf"));
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    for (const id of ids.slice(0, 100)) expect(isId(id, "trf")).toBe(true);
    expect(isId(ids[0]!, "acc")).toBe(false);
  });
});
