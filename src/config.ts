/**
 * Typed configuration from the environment, validated once at start. Every variable read here is
 * documented in the README's configuration table; an invalid value stops the process with a
 * message that names the variable, rather than failing later in the middle of a request.
 */
export interface Config {
  http: { host: string; port: number; bodyLimitBytes: number; trustProxy: boolean };
  database: { url: string | undefined; dataDir: string; poolSize: number };
  redisUrl: string | undefined;
  nats: { url: string | undefined; stream: string; subjectPrefix: string };
  cachePrefix: string;
  logLevel: string;
  auth: {
    jwtPrivateKeyPem: string | undefined;
    issuer: string;
    accessTokenTtlS: number;
    refreshTokenTtlS: number;
  };
  admin: { email: string | undefined; password: string | undefined };
  iban: { countryCode: string; bankCode: string };
  ledger: { systemAccountShards: number };
  transfers: { batchMax: number; queueMax: number; batchConcurrency: number };
  outbox: { batchMax: number; pollIntervalMs: number; handlerAttemptsMax: number };
  idempotencyRetentionS: number;
  shutdownTimeoutMs: number;
  rateLimit: { authPerMinute: number };
}

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

type Env = Record<string, string | undefined>;

class Reader {
  readonly problems: string[] = [];
  readonly env: Env;
  constructor(env: Env) {
    this.env = env;
  }

  string(name: string, fallback: string): string {
    const value = this.env[name];
    return value === undefined || value === "" ? fallback : value;
  }

  optional(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value === "" ? undefined : value;
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const raw = this.optional(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!/^-?\d+$/.test(raw) || value < min || value > max) {
      this.problems.push(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
      return fallback;
    }
    return value;
  }

  boolean(name: string, fallback: boolean): boolean {
    const raw = this.optional(name);
    if (raw === undefined) return fallback;
    if (["1", "true", "yes"].includes(raw)) return true;
    if (["0", "false", "no"].includes(raw)) return false;
    this.problems.push(`${name} must be true or false, got "${raw}"`);
    return fallback;
  }

  url(name: string, protocols: string[]): string | undefined {
    const raw = this.optional(name);
    if (raw === undefined) return undefined;
    try {
      const parsed = new URL(raw);
      if (!protocols.includes(parsed.protocol)) {
        this.problems.push(`${name} must use one of ${protocols.join(", ")}`);
      }
    } catch {
      this.problems.push(`${name} is not a valid URL`);
    }
    return raw;
  }
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];
/** PSD2 and our own security model cap access tokens at ten minutes. */
const ACCESS_TOKEN_TTL_MAX_S = 600;
/** Architecture rule 7: idempotency keys are kept at least 24 hours. */
const IDEMPOTENCY_RETENTION_MIN_S = 86_400;

export function loadConfig(env: Env = process.env): Config {
  const read = new Reader(env);
  const config: Config = {
    http: {
      host: read.string("HOST", "127.0.0.1"),
      port: read.integer("PORT", 3000, 0, 65_535),
      bodyLimitBytes: read.integer("OMNICORE_BODY_LIMIT_BYTES", 65_536, 1_024, 10_485_760),
      trustProxy: read.boolean("OMNICORE_TRUST_PROXY", false),
    },
    database: {
      url: read.url("DATABASE_URL", ["postgres:", "postgresql:"]),
      dataDir: read.string("OMNICORE_DATA_DIR", "./data"),
      poolSize: read.integer("DATABASE_POOL_SIZE", 20, 1, 500),
    },
    redisUrl: read.url("REDIS_URL", ["redis:", "rediss:"]),
    nats: {
      url: read.url("NATS_URL", ["nats:", "tls:"]),
      stream: read.string("NATS_STREAM", "OMNICORE_EVENTS"),
      subjectPrefix: read.string("NATS_SUBJECT_PREFIX", "omnicore"),
    },
    cachePrefix: read.string("OMNICORE_CACHE_PREFIX", "omnicore:"),
    logLevel: read.string("LOG_LEVEL", "info"),
    auth: {
      jwtPrivateKeyPem: read.optional("OMNICORE_JWT_PRIVATE_KEY"),
      issuer: read.string("OMNICORE_JWT_ISSUER", "omnicore"),
      accessTokenTtlS: read.integer("OMNICORE_ACCESS_TOKEN_TTL_S", 600, 30, ACCESS_TOKEN_TTL_MAX_S),
      refreshTokenTtlS: read.integer("OMNICORE_REFRESH_TOKEN_TTL_S", 2_592_000, 300, 31_536_000),
    },
    admin: {
      email: read.optional("OMNICORE_ADMIN_EMAIL"),
      password: read.optional("OMNICORE_ADMIN_PASSWORD"),
    },
    iban: {
      countryCode: read.string("OMNICORE_IBAN_COUNTRY", "DE"),
      bankCode: read.string("OMNICORE_IBAN_BANK_CODE", "10010010"),
    },
    ledger: { systemAccountShards: read.integer("OMNICORE_SYSTEM_ACCOUNT_SHARDS", 16, 1, 1_024) },
    transfers: {
      batchMax: read.integer("OMNICORE_TRANSFER_BATCH_MAX", 128, 1, 1_000),
      queueMax: read.integer("OMNICORE_TRANSFER_QUEUE_MAX", 10_000, 1, 1_000_000),
      // 0 = automatic: one batch at a time on PGlite, two on PostgreSQL (see ADR 0002).
      batchConcurrency: read.integer("OMNICORE_TRANSFER_BATCH_CONCURRENCY", 0, 0, 64),
    },
    outbox: {
      batchMax: read.integer("OMNICORE_OUTBOX_BATCH_MAX", 100, 1, 10_000),
      pollIntervalMs: read.integer("OMNICORE_OUTBOX_POLL_INTERVAL_MS", 250, 10, 60_000),
      handlerAttemptsMax: read.integer("OMNICORE_EVENT_HANDLER_ATTEMPTS_MAX", 8, 1, 100),
    },
    idempotencyRetentionS: read.integer(
      "OMNICORE_IDEMPOTENCY_RETENTION_S",
      172_800,
      IDEMPOTENCY_RETENTION_MIN_S,
      31_536_000,
    ),
    shutdownTimeoutMs: read.integer("OMNICORE_SHUTDOWN_TIMEOUT_MS", 10_000, 100, 300_000),
    rateLimit: { authPerMinute: read.integer("OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE", 30, 1, 100_000) },
  };
  if (!LOG_LEVELS.includes(config.logLevel)) {
    read.problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}`);
  }
  if (config.admin.password !== undefined && config.admin.email === undefined) {
    read.problems.push("OMNICORE_ADMIN_PASSWORD is set but OMNICORE_ADMIN_EMAIL is not");
  }
  if (read.problems.length > 0) throw new ConfigError(read.problems);
  return config;
}
