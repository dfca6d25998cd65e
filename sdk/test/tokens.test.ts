import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemorySecureStore, OmnicoreClient, SessionEndedError } from "../src/index.ts";
import { instantScheduler, type RealBank, startRealBank } from "./support/real-app.ts";

/** Token handling against the real identity module: login, refresh before expiry and on 401, reuse. */

let bank: RealBank;
beforeAll(async () => {
  bank = await startRealBank();
});
afterAll(async () => {
  await bank.app.destroy();
});

/** A client whose clock the test moves, so "the token is about to expire" needs no waiting. */
async function signedInClient() {
  let nowMs = Date.now();
  const secureStore = new MemorySecureStore();
  const refreshes: string[] = [];
  const client = await OmnicoreClient.create({
    baseUrl: bank.url,
    secureStore,
    scheduler: { ...instantScheduler, now: () => nowMs },
    fetch: (input, init) => {
      if (String(input).endsWith("/v1/auth/refresh")) refreshes.push(String(init?.body));
      return fetch(input, init);
    },
  });
  const ended: string[] = [];
  client.events.on("session-ended", ({ reason }) => ended.push(reason));
  expect(await client.login(bank.payer.email, bank.payer.password)).toEqual({ kind: "signed-in" });
  return { client, secureStore, refreshes, ended, advance: (ms: number) => (nowMs += ms) };
}

describe("token handling", () => {
  it("refreshes once before expiry, however many requests need the token at once", async () => {
    const { client, secureStore, refreshes, advance } = await signedInClient();
    const firstRefreshToken = await secureStore.getRefreshToken();
    const before = await client.api.GET("/v1/accounts");
    expect(before.response.status).toBe(200);
    expect(refreshes).toHaveLength(0);

    // The access token lives minutes; move the client's clock to just before its expiry.
    advance(3600_000);
    const answers = await Promise.all(Array.from({ length: 8 }, () => client.api.GET("/v1/accounts")));
    expect(answers.map((answer) => answer.response.status)).toEqual(Array(8).fill(200));
    expect(refreshes).toHaveLength(1);
    // The rotated refresh token went to the secure store.
    const rotated = await secureStore.getRefreshToken();
    expect(rotated).toBeDefined();
    expect(rotated).not.toBe(firstRefreshToken);
  });

  it("refreshes once on a 401 and resends the request", async () => {
    const { client, secureStore, refreshes } = await signedInClient();
    // A token the server refuses (here one it never issued) while the client thinks it is fresh.
    await client.tokens.accept({
      accessToken: "not-a-valid-token",
      refreshToken: (await secureStore.getRefreshToken())!,
      expiresIn: 600,
    });
    const answers = await Promise.all(Array.from({ length: 4 }, () => client.api.GET("/v1/accounts")));
    expect(answers.map((answer) => answer.response.status)).toEqual([200, 200, 200, 200]);
    expect(refreshes).toHaveLength(1);
  });

  it("logs out and tells the app when the server reports refresh-token reuse", async () => {
    const { client, secureStore, ended } = await signedInClient();
    const stolen = (await secureStore.getRefreshToken())!;
    // A thief spends the token (the client's copy is now spent), then presents it again: reuse.
    for (let attempt = 0; attempt < 3; attempt++) {
      await fetch(`${bank.url}/v1/auth/refresh`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ refreshToken: stolen }),
      });
    }
    await expect(client.tokens.refresh()).rejects.toBeInstanceOf(SessionEndedError);
    expect(ended).toEqual(["refresh-token-rejected"]);
    expect(await secureStore.getRefreshToken()).toBeUndefined();
    expect(await client.isSignedIn()).toBe(false);
  });

  it("logout ends the session on the server and clears the tokens", async () => {
    const { client, secureStore, ended } = await signedInClient();
    const refreshToken = (await secureStore.getRefreshToken())!;
    await client.logout();
    expect(ended).toEqual(["logout"]);
    expect(await secureStore.getRefreshToken()).toBeUndefined();
    const reused = await fetch(`${bank.url}/v1/auth/refresh`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ refreshToken }),
    });
    expect(reused.status).toBe(401);
  });
});
