import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.ts";

type Env = Record<string, string | undefined>;

/** The problems loadConfig reports for `env`; fails the test if it accepts the environment. */
function problemsOf(env: Env): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const configError = error as ConfigError;
    for (const problem of configError.problems) expect(configError.message).toContain(problem);
    return configError.problems;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe("loadConfig defaults", () => {
  it("runs on embedded defaults with an empty environment", () => {
    const config = loadConfig({});
    expect(config.http).toEqual({ host: "127.0.0.1", port: 3000, bodyLimitBytes: 65_536 });
    expect(config.edge.trustedProxies).toEqual([]);
    expect(config.auth.sessions.web.idleS).toBe(300);
    expect(config.auth.stepUp.enabled).toBe(true);
    expect(config.database).toEqual({ url: undefined, dataDir: "./data", poolSize: 20 });
    expect(config.redisUrl).toBeUndefined();
    expect(config.nats).toEqual({ url: undefined, stream: "OMNICORE_EVENTS", subjectPrefix: "omnicore" });
    expect(config.cachePrefix).toBe("omnicore:");
    expect(config.logLevel).toBe("info");
    expect(config.auth.accessTokenTtlS).toBe(600);
    expect(config.auth.jwtPrivateKeyPem).toBeUndefined();
    expect(config.admin).toEqual({ email: undefined, password: undefined });
    expect(config.outbox).toEqual({ batchMax: 100, pollIntervalMs: 250, handlerAttemptsMax: 8 });
    expect(config.idempotencyRetentionS).toBe(172_800);
    expect(config.idempotencyRetentionS).toBeGreaterThanOrEqual(86_400);
  });

  it("treats an empty variable as unset", () => {
    const config = loadConfig({ PORT: "", DATABASE_URL: "", OMNICORE_DATA_DIR: "", LOG_LEVEL: "" });
    expect(config.http.port).toBe(3000);
    expect(config.database.url).toBeUndefined();
    expect(config.database.dataDir).toBe("./data");
    expect(config.logLevel).toBe("info");
  });

  it("reads valid values of every kind", () => {
    const config = loadConfig({
      PORT: "0",
      DATABASE_URL: "postgresql://user@db.internal:5432/omnicore",
      REDIS_URL: "rediss://cache.internal:6380",
      NATS_URL: "tls://nats.internal:4222",
      OMNICORE_TRUSTED_PROXIES: "10.0.0.0/8, 192.168.1.10",
      OMNICORE_ACCESS_TOKEN_TTL_S: "600",
      OMNICORE_IDEMPOTENCY_RETENTION_S: "86400",
      OMNICORE_ADMIN_EMAIL: "admin@example.com",
      OMNICORE_ADMIN_PASSWORD: "correct horse battery staple",
      LOG_LEVEL: "silent",
    });
    expect(config.http.port).toBe(0);
    expect(config.edge.trustedProxies).toEqual(["10.0.0.0/8", "192.168.1.10"]);
    expect(config.database.url).toBe("postgresql://user@db.internal:5432/omnicore");
    expect(config.redisUrl).toBe("rediss://cache.internal:6380");
    expect(config.nats.url).toBe("tls://nats.internal:4222");
    expect(config.auth.accessTokenTtlS).toBe(600);
    expect(config.idempotencyRetentionS).toBe(86_400);
    expect(config.admin).toEqual({ email: "admin@example.com", password: "correct horse battery staple" });
    expect(config.logLevel).toBe("silent");
  });
});

describe("loadConfig refuses invalid values, naming the variable", () => {
  it.each(["abc", "70000", "65536", "-1", "3.5", "80 http"])("PORT=%j", (value) => {
    const problems = problemsOf({ PORT: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^PORT /);
    expect(problems[0]).toContain(value);
  });

  it.each(["mysql://db/omnicore", "http://db:5432/omnicore", "redis://db:6379"])(
    "DATABASE_URL with the protocol of %j",
    (value) => {
      expect(problemsOf({ DATABASE_URL: value })).toEqual([
        "DATABASE_URL must use one of postgres:, postgresql:",
      ]);
    },
  );

  it("DATABASE_URL that is not a URL at all", () => {
    expect(problemsOf({ DATABASE_URL: "not a url" })).toEqual(["DATABASE_URL is not a valid URL"]);
  });

  it("REDIS_URL and NATS_URL with foreign protocols", () => {
    const problems = problemsOf({ REDIS_URL: "http://cache", NATS_URL: "redis://nats" });
    expect(problems).toHaveLength(2);
    expect(problems.some((problem) => problem.startsWith("REDIS_URL "))).toBe(true);
    expect(problems.some((problem) => problem.startsWith("NATS_URL "))).toBe(true);
  });

  it.each(["601", "3600", "29"])(
    "OMNICORE_ACCESS_TOKEN_TTL_S=%s (access tokens live 30 s to 10 min)",
    (value) => {
      const problems = problemsOf({ OMNICORE_ACCESS_TOKEN_TTL_S: value });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^OMNICORE_ACCESS_TOKEN_TTL_S /);
      expect(problems[0]).toContain("600");
    },
  );

  it.each(["86399", "3600", "0"])(
    "OMNICORE_IDEMPOTENCY_RETENTION_S=%s (keys are kept at least 24 h)",
    (value) => {
      const problems = problemsOf({ OMNICORE_IDEMPOTENCY_RETENTION_S: value });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^OMNICORE_IDEMPOTENCY_RETENTION_S /);
      expect(problems[0]).toContain("86400");
    },
  );

  it("OMNICORE_ADMIN_PASSWORD without OMNICORE_ADMIN_EMAIL", () => {
    const problems = problemsOf({ OMNICORE_ADMIN_PASSWORD: "secret-password" });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain("OMNICORE_ADMIN_PASSWORD");
    expect(problems[0]).toContain("OMNICORE_ADMIN_EMAIL");
    // The message names the variable, never its value: it may be printed to a log.
    expect(problems[0]).not.toContain("secret-password");
  });

  it("OMNICORE_ADMIN_EMAIL alone is fine", () => {
    expect(loadConfig({ OMNICORE_ADMIN_EMAIL: "admin@example.com" }).admin.email).toBe("admin@example.com");
  });

  it("LOG_LEVEL and booleans outside their sets", () => {
    const problems = problemsOf({ LOG_LEVEL: "verbose", OMNICORE_STEP_UP: "maybe" });
    expect(problems).toHaveLength(2);
    expect(problems.some((problem) => problem.startsWith("LOG_LEVEL "))).toBe(true);
    expect(problems.some((problem) => problem.startsWith("OMNICORE_STEP_UP "))).toBe(true);
  });

  it("refuses a web idle timeout above PSD2's five minutes, and bad proxy entries", () => {
    const problems = problemsOf({
      OMNICORE_SESSION_WEB_IDLE_S: "301",
      OMNICORE_TRUSTED_PROXIES: "not-an-ip",
    });
    expect(problems.some((problem) => problem.includes("PSD2"))).toBe(true);
    expect(problems.some((problem) => problem.includes("not-an-ip"))).toBe(true);
  });

  it("reports every problem at once rather than the first one", () => {
    const problems = problemsOf({
      PORT: "http",
      DATABASE_URL: "mysql://db/omnicore",
      OMNICORE_ACCESS_TOKEN_TTL_S: "601",
      OMNICORE_IDEMPOTENCY_RETENTION_S: "60",
      OMNICORE_ADMIN_PASSWORD: "secret-password",
    });
    expect(problems).toHaveLength(5);
    for (const name of [
      "PORT",
      "DATABASE_URL",
      "OMNICORE_ACCESS_TOKEN_TTL_S",
      "OMNICORE_IDEMPOTENCY_RETENTION_S",
      "OMNICORE_ADMIN_PASSWORD",
    ]) {
      expect(problems.filter((problem) => problem.startsWith(`${name} `))).toHaveLength(1);
    }
  });

  it("is a ConfigError whose message lists the problems one per line", () => {
    let caught: unknown;
    try {
      loadConfig({ PORT: "x", LOG_LEVEL: "loud" });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect(caught).toBeInstanceOf(Error);
    const error = caught as ConfigError;
    expect(error.name).toBe("ConfigError");
    expect(error.message.split("\n")).toHaveLength(3);
  });
});
