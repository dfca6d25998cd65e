import { randomBytes } from "node:crypto";
import pg from "pg";
import { type App, buildApp } from "../../src/app.ts";
import { type Config, loadConfig } from "../../src/config.ts";
import { RedisCache } from "../../src/platform/cache/redis-cache.ts";
import type { Clock } from "../../src/platform/clock.ts";
import { NatsEventBus } from "../../src/platform/events/nats-bus.ts";

/**
 * Builds an app for one test file on the embedded defaults (in-memory PGlite, memory cache,
 * in-process bus), or, when DATABASE_URL / REDIS_URL / NATS_URL are set, on a fresh PostgreSQL
 * database, a fresh Redis key prefix and a fresh JetStream stream that `close()` removes again.
 */
export interface TestApp extends App {
  /** Closes the app and drops everything the test created on the real services. */
  destroy(): Promise<void>;
}

export const usingPostgres = Boolean(process.env.DATABASE_URL);

function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString("hex")}`;
}

async function adminQuery(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** Creates an empty PostgreSQL database next to DATABASE_URL's and returns its URL and a dropper. */
export async function createTestDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const baseUrl = process.env.DATABASE_URL;
  if (!baseUrl) throw new Error("DATABASE_URL is not set");
  const name = uniqueName("omnicore_test");
  await adminQuery(baseUrl, `create database ${name}`);
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => adminQuery(baseUrl, `drop database if exists ${name} with (force)`),
  };
}

export function testConfig(overrides: Partial<Record<string, string>> = {}): Config {
  return loadConfig({
    LOG_LEVEL: "silent",
    OMNICORE_DATA_DIR: "memory",
    OMNICORE_OUTBOX_POLL_INTERVAL_MS: "20",
    OMNICORE_EVENT_HANDLER_ATTEMPTS_MAX: "4",
    PORT: "0",
    // Most suites test their own rules (money, profiles), not strong customer authentication;
    // the step-up suites turn it back on with OMNICORE_STEP_UP=required.
    OMNICORE_STEP_UP: "off",
    ...overrides,
  });
}

export async function createTestApp(
  options: { env?: Partial<Record<string, string>>; clock?: Clock; start?: boolean } = {},
): Promise<TestApp> {
  const env: Record<string, string> = {};
  let dropDatabase: (() => Promise<void>) | undefined;
  if (process.env.DATABASE_URL) {
    const database = await createTestDatabase();
    env.DATABASE_URL = database.url;
    env.DATABASE_POOL_SIZE = "10";
    dropDatabase = database.drop;
  }
  if (process.env.REDIS_URL) {
    env.REDIS_URL = process.env.REDIS_URL;
    env.OMNICORE_CACHE_PREFIX = `${uniqueName("test")}:`;
  }
  if (process.env.NATS_URL) {
    const name = uniqueName("T");
    env.NATS_URL = process.env.NATS_URL;
    env.NATS_STREAM = name.toUpperCase();
    env.NATS_SUBJECT_PREFIX = name.toLowerCase();
  }
  const config = testConfig({ ...env, ...options.env });
  let app: App;
  try {
    app = await buildApp({ config, ...(options.clock ? { clock: options.clock } : {}) });
  } catch (error) {
    await dropDatabase?.();
    throw error;
  }
  if (options.start !== false) await app.start();
  return Object.assign(app, {
    async destroy() {
      await app.close();
      if (config.redisUrl) {
        const cache = new RedisCache({ url: config.redisUrl, prefix: config.cachePrefix });
        await cache.clearPrefix();
        await cache.close();
      }
      if (config.nats.url) {
        const bus = new NatsEventBus({
          url: config.nats.url,
          stream: config.nats.stream,
          subjectPrefix: config.nats.subjectPrefix,
          attemptsMax: 1,
          deadLetter: async () => undefined,
          logger: app.logger,
        });
        await bus.connect();
        await bus.deleteStream();
        await bus.close();
      }
      await dropDatabase?.();
    },
  });
}
