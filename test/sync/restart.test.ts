import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type App, buildApp } from "../../src/app.ts";
import { decodeSyncCursor, encodeSyncCursor } from "../../src/modules/sync/index.ts";
import { NatsEventBus } from "../../src/platform/events/nats-bus.ts";
import { createLogger } from "../../src/platform/logger.ts";
import { createTestDatabase, testConfig, usingPostgres } from "../helpers/test-app.ts";
import { bearer, login, PASSWORD } from "../identity.helpers.ts";
import { waitFor } from "../platform/wait.ts";
import { fundedCustomer, sendTransfer, syncAll, syncPage, waitForEntry } from "./sync.helpers.ts";

const cleanups: Array<() => Promise<void> | void> = [];
const usingNats = Boolean(process.env.NATS_URL);
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** An app on a given database: PostgreSQL when DATABASE_URL is set, else PGlite in a directory. */
async function appOn(
  database: { url?: string; dataDir?: string },
  env: Record<string, string> = {},
): Promise<App> {
  const app = await buildApp({
    config: testConfig({
      OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "10000",
      ...(database.url ? { DATABASE_URL: database.url, DATABASE_POOL_SIZE: "5" } : {}),
      ...(database.dataDir ? { OMNICORE_DATA_DIR: database.dataDir } : {}),
      ...env,
    }),
  });
  await app.start();
  return app;
}

async function sharedDatabase(): Promise<{ url?: string; dataDir?: string }> {
  if (usingPostgres) {
    const database = await createTestDatabase();
    cleanups.push(database.drop);
    return { url: database.url };
  }
  const dataDir = mkdtempSync(join(tmpdir(), "omnicore-sync-"));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  return { dataDir };
}

describe("the cursor across restarts and nodes", () => {
  it("stays valid and monotonic after the app restarts on the same database", async () => {
    const database = await sharedDatabase();
    const first = await appOn(database);
    const alice = await fundedCustomer(first, "alice-phone");
    const bob = await fundedCustomer(first, "bob-phone");
    const sent = await sendTransfer(first, alice, bob.account.iban, "1.00");
    await waitForEntry(first, alice.token, encodeSyncCursor(0n), (item) => item.data.id === sent.id);
    const { cursor } = await syncAll(first, alice.token, encodeSyncCursor(0n));
    await first.close();

    const second = await appOn(database);
    try {
      const token = (await login(second, alice.email, PASSWORD, { "x-device-id": "alice-phone" }))
        .accessToken;
      expect((await syncPage(second, token, cursor)).items).toEqual([]);
      const again = await sendTransfer(second, { ...alice, token }, bob.account.iban, "2.00");
      const items = await waitForEntry(second, token, cursor, (item) => item.data.id === again.id);
      const before = decodeSyncCursor(cursor)!.seq;
      expect(items.every((item) => BigInt(item.seq) > before)).toBe(true);
      expect(items.some((item) => item.data.id === sent.id)).toBe(false);
    } finally {
      await second.close();
    }
  });

  it.runIf(usingPostgres)("means the same on two app instances sharing one PostgreSQL", async () => {
    const database = await sharedDatabase();
    const one = await appOn(database);
    const two = await appOn(database);
    try {
      const alice = await fundedCustomer(one, "alice-phone");
      const bob = await fundedCustomer(one, "bob-phone");
      const onTwo = { ...alice, token: (await login(two, alice.email, PASSWORD)).accessToken };
      const viaOne = await sendTransfer(one, alice, bob.account.iban, "1.00");
      const seen = await waitForEntry(
        two,
        onTwo.token,
        encodeSyncCursor(0n),
        (item) => item.data.id === viaOne.id,
      );
      const { cursor } = await syncAll(two, onTwo.token, encodeSyncCursor(0n));
      const viaTwo = await sendTransfer(two, onTwo, bob.account.iban, "2.00");
      const later = await waitForEntry(one, alice.token, cursor, (item) => item.data.id === viaTwo.id);
      const lastSeen = seen.map((item) => BigInt(item.seq)).reduce((a, b) => (a > b ? a : b));
      expect(later.every((item) => BigInt(item.seq) > lastSeen)).toBe(true);
      // Both nodes page the same log the same way.
      expect((await syncAll(one, alice.token, cursor)).items).toEqual(
        (await syncAll(two, onTwo.token, cursor)).items,
      );
    } finally {
      await one.close();
      await two.close();
    }
  });

  it.runIf(usingPostgres)(
    "streams an entry appended through one node to a client connected to the other",
    async () => {
      const database = await sharedDatabase();
      // With NATS both nodes share one stream and learn of entries through it: the heartbeat (the
      // fallback read) is then too slow to be what delivers. Without NATS only the fallback can.
      const env: Record<string, string> = { OMNICORE_SSE_HEARTBEAT_S: usingNats ? "300" : "1" };
      if (usingNats) {
        const name = `T_SYNC_${randomBytes(4).toString("hex")}`;
        Object.assign(env, {
          NATS_URL: process.env.NATS_URL!,
          NATS_STREAM: name.toUpperCase(),
          NATS_SUBJECT_PREFIX: name.toLowerCase(),
        });
        cleanups.push(async () => {
          const bus = new NatsEventBus({
            url: env.NATS_URL!,
            stream: env.NATS_STREAM!,
            subjectPrefix: env.NATS_SUBJECT_PREFIX!,
            attemptsMax: 1,
            deadLetter: async () => undefined,
            logger: createLogger({ level: "silent" }),
          });
          await bus.connect();
          await bus.deleteStream();
          await bus.close();
        });
      }
      const one = await appOn(database, env);
      const two = await appOn(database, env);
      try {
        const alice = await fundedCustomer(one, "alice-phone");
        const bob = await fundedCustomer(one, "bob-phone");
        const url = await two.listen();
        const onTwo = (await login(two, alice.email, PASSWORD)).accessToken;
        const received: string[] = [];
        const connection = request(new URL("/v1/events/stream", url), { headers: bearer(onTwo) });
        connection.on("response", (response) => {
          response.setEncoding("utf8");
          response.on("data", (chunk: string) => received.push(chunk));
        });
        connection.end();
        await waitFor(() => two.services.sync.streams.size === 1, 400, 25, "stream open on node two");
        const sent = await sendTransfer(one, alice, bob.account.iban, "1.00");
        await waitFor(() => received.join("").includes(sent.id), 400, 25, "entry through node two");
        connection.destroy();
      } finally {
        await one.close();
        await two.close();
      }
    },
  );
});
