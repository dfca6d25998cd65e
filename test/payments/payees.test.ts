import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkName, nameTokens } from "../../src/modules/payments/name-check.ts";
import type { TestApp } from "../helpers/test-app.ts";
import { bearer, expectProblem, outboxEvents } from "../identity.helpers.ts";
import { createPaymentsApp, newCustomer, openAccount } from "./payments.helpers.ts";

/** The register helper names every customer Ada Lovelace. */
const HOLDER = "Ada Lovelace";
/** A valid IBAN of another bank: no holder to compare with. */
const ELSEWHERE = "DE89370400440532013000";

describe("name check (Confirmation of Payee), pure", () => {
  it.each([
    ["Ada Lovelace", "match"],
    ["  lovelace, ADA ", "match"],
    ["Adá Lövelace", "match"],
    ["Ada Lovlace", "close_match"],
    ["A. Lovelace", "close_match"],
    ["Ada L", "close_match"],
    ["Charles Babbage", "no_match"],
    ["Ada", "no_match"],
    ["", "no_match"],
  ])("%j against %s is %s", (typed, expected) => {
    expect(checkName(typed, HOLDER)).toBe(expected);
  });

  it("matches any name against itself, whatever the case and word order (property)", () => {
    const word = fc.stringMatching(/^[A-Za-zÀ-ÖØ-öø-ÿ]{1,12}$/);
    fc.assert(
      fc.property(fc.array(word, { minLength: 1, maxLength: 4 }), (words) => {
        const name = words.join(" ");
        const shuffled = [...words].reverse().join("  ").toUpperCase();
        expect(checkName(name, name)).toBe("match");
        expect(checkName(shuffled, name)).toBe("match");
      }),
    );
  });

  it("is symmetric (property)", () => {
    const name = fc.stringMatching(/^[A-Za-z]{1,10}( [A-Za-z]{1,10}){0,2}$/);
    fc.assert(
      fc.property(name, name, (a, b) => {
        expect(checkName(a, b)).toBe(checkName(b, a));
      }),
    );
  });

  it("folds accents and punctuation into comparable words", () => {
    expect(nameTokens("Zoë O'Brien-Smith")).toEqual(["brien", "o", "smith", "zoe"]);
    expect(checkName("STRASSER", "Straßer")).toBe("match");
  });
});

describe("payees over HTTP", () => {
  let app: TestApp;
  let token: string;
  let holderIban: string;

  beforeAll(async () => {
    app = await createPaymentsApp();
    token = (await newCustomer(app)).token;
    const holder = await newCustomer(app);
    holderIban = (await openAccount(app, holder.token)).iban;
  });
  afterAll(async () => app.destroy());

  const nameCheck = (name: string, iban: string) =>
    app.http.inject({
      method: "POST",
      url: "/v1/payees/name-check",
      headers: bearer(token),
      payload: { name, iban },
    });

  it("answers match, close match with the registered name, no match without it, and not applicable", async () => {
    expect((await nameCheck(HOLDER, holderIban)).json()).toEqual({ result: "match" });
    expect((await nameCheck("Ada Lovlace", holderIban)).json()).toEqual({
      result: "close_match",
      registeredName: HOLDER,
    });
    expect((await nameCheck("Charles Babbage", holderIban)).json()).toEqual({ result: "no_match" });
    expect((await nameCheck(HOLDER, ELSEWHERE)).json()).toEqual({ result: "not_applicable" });
    expectProblem(await nameCheck(HOLDER, "DE00 0000 0000"), 422, "invalid-iban");
  });

  it("saves, lists and deletes a payee, with its name check; one live payee per IBAN", async () => {
    const create = (name: string) =>
      app.http.inject({
        method: "POST",
        url: "/v1/payees",
        headers: bearer(token),
        payload: { name, iban: holderIban.toLowerCase() },
      });
    const created = await create("Ada Lovlace");
    expect(created.statusCode, created.body).toBe(201);
    const { payee, nameCheck: check } = created.json<{
      payee: { id: string; iban: string; nameCheck: string };
      nameCheck: { result: string; registeredName?: string };
    }>();
    expect(payee).toMatchObject({ iban: holderIban, nameCheck: "close_match" });
    expect(check).toEqual({ result: "close_match", registeredName: HOLDER });
    expectProblem(await create("Ada Lovelace"), 409, "conflict");

    const listed = await app.http.inject({ method: "GET", url: "/v1/payees", headers: bearer(token) });
    expect(listed.json<{ items: Array<{ id: string }> }>().items.map((item) => item.id)).toEqual([payee.id]);
    const [event] = await outboxEvents(app, "payee.created", payee.id);
    expect(event?.data).toMatchObject({ payeeId: payee.id, nameCheck: "close_match" });
    expect(JSON.stringify(event?.data)).not.toContain(holderIban);

    const removed = await app.http.inject({
      method: "DELETE",
      url: `/v1/payees/${payee.id}`,
      headers: bearer(token),
    });
    expect(removed.statusCode).toBe(204);
    const again = await app.http.inject({
      method: "DELETE",
      url: `/v1/payees/${payee.id}`,
      headers: bearer(token),
    });
    expectProblem(again, 404, "not-found");
    expect((await create("Ada Lovelace")).statusCode).toBe(201);
  });

  it("keeps one customer's payees away from another", async () => {
    const other = await newCustomer(app);
    const created = await app.http.inject({
      method: "POST",
      url: "/v1/payees",
      headers: bearer(token),
      payload: { name: "Someone", iban: ELSEWHERE },
    });
    const { payee } = created.json<{ payee: { id: string } }>();
    const listed = await app.http.inject({ method: "GET", url: "/v1/payees", headers: bearer(other.token) });
    expect(listed.json<{ items: unknown[] }>().items).toEqual([]);
    const stolen = await app.http.inject({
      method: "DELETE",
      url: `/v1/payees/${payee.id}`,
      headers: bearer(other.token),
    });
    expectProblem(stolen, 404, "not-found");
  });
});
