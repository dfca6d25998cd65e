import {
  CONNECTOR_DEFAULTS,
  type ConnectorDefaults,
  isLoopbackHost,
  type OutboundPolicyConfig,
} from "./platform/connectors/index.ts";
import {
  DEFAULT_EDGE_HEADERS,
  type EdgeHeadersConfig,
  validateTrustedProxies,
} from "./platform/http/client-origin.ts";

/**
 * Typed configuration from the environment, validated once at start. Every variable read here is
 * documented in the README's configuration table; an invalid value stops the process with a
 * message that names the variable, rather than failing later in the middle of a request.
 */
/** Channels a session can be opened on; `system` never signs in. */
export const SESSION_CHANNELS = ["mobile", "web", "branch", "contact_centre", "open_banking"] as const;
export type SessionChannel = (typeof SESSION_CHANNELS)[number];

/** Idle timeout (untrusted and trusted device) and absolute lifetime of a session on one channel. */
export interface SessionPolicy {
  idleS: number;
  trustedIdleS: number;
  absoluteS: number;
}

export interface StepUpConfig {
  /** false turns step-up off entirely: for sandboxes and benchmarks, never for production. */
  enabled: boolean;
  /** Transfers above this amount (minor units of `currency`) always need strong authentication. */
  transferAboveMinor: number;
  /** The currency the amounts below are in; payments in other currencies get no exemption. */
  currency: string;
  /** PSD2 RTS art. 16 low-value exemption: single, cumulative and count since the last SCA. */
  exemptSingleMaxMinor: number;
  exemptCumulativeMaxMinor: number;
  exemptCountMax: number;
}

/** Transfer limits of one customer tier, in minor units of `TransferLimitsConfig.currency`. */
export interface TierLimits {
  perTransactionMinor: number;
  dailyMinor: number;
}

export interface TransferLimitsConfig {
  /** Transfers in this currency are limited; the limits are in its minor units. */
  currency: string;
  tiers: Record<"basic" | "standard" | "premium", TierLimits>;
  /** A lower daily cap on some channels, for every tier. */
  channelDailyMinor: Partial<Record<SessionChannel, number>>;
}

/** The identity-verification (KYC) provider; `url` unset means KYC is not configured. */
export interface KycConfig {
  url: string | undefined;
  apiKey: string | undefined;
  webhookSecret: string | undefined;
  webhookToleranceS: number;
  /** Upper bound on one call to the provider (each retry has its own). */
  timeoutMs: number;
  /** How long to wait for a verification's webhook before polling the provider for it. */
  pollAfterS: number;
}

export interface Config {
  http: { host: string; port: number; bodyLimitBytes: number };
  /** The load balancers' addresses and the headers through which they report the client's location. */
  edge: EdgeHeadersConfig;
  database: { url: string | undefined; dataDir: string; poolSize: number };
  redisUrl: string | undefined;
  nats: { url: string | undefined; stream: string; subjectPrefix: string };
  cachePrefix: string;
  logLevel: string;
  auth: {
    jwtPrivateKeyPem: string | undefined;
    issuer: string;
    accessTokenTtlS: number;
    /** A refresh token spent this recently may be presented again (a lost response), once. */
    refreshReuseGraceS: number;
    sessions: Record<SessionChannel, SessionPolicy>;
    lockout: { attemptsMax: number; durationS: number };
    challengeTtlS: number;
    totpIssuer: string;
    webauthn: { rpId: string; rpName: string; origins: string[] };
    stepUp: StepUpConfig;
    anomaly: {
      impossibleTravelKmh: number;
      concurrentDistanceKm: number;
      stepUpScore: number;
      denyScore: number;
    };
  };
  admin: { email: string | undefined; password: string | undefined };
  iban: { countryCode: string; bankCode: string };
  ledger: { systemAccountShards: number };
  transfers: { batchMax: number; queueMax: number; batchConcurrency: number; limits: TransferLimitsConfig };
  /** Scheduled and standing transfers: how often each node looks for due runs (0 = never), and the lease. */
  scheduler: { intervalMs: number; leaseS: number };
  /** The payment rail for payments to and from other banks (ISO 20022 over HTTP, signed webhooks). */
  rail: {
    url: string | undefined;
    webhookSecret: string | undefined;
    webhookToleranceS: number;
    timeoutMs: number;
    bankBic: string;
    senderIntervalMs: number;
    sendBatchMax: number;
    retryBackoffMaxMs: number;
  };
  kyc: KycConfig;
  /** The legacy core that masters some accounts: its URL, the mirror's feed, the sender, reconciliation, degraded mode. */
  legacy: LegacyConfig;
  /** Notifications: the push, e-mail and SMS providers (unset = channel off) and the delivery sender. */
  notifications: NotificationsConfig;
  /** Where outbound calls may go: the allow-list of hosts and whether plain http is allowed. */
  outbound: OutboundPolicyConfig;
  /** Defaults of every connector's policy: retry, circuit breaker and bulkhead. */
  connectors: ConnectorDefaults;
  /** Onboarding: the account opened on activation, the risk rating's countries, basic KYC, the callback. */
  onboarding: {
    currency: string;
    highRiskCountries: string[];
    basicWithoutDocument: boolean;
    /** Where the KYC provider calls back; unset = this node's own listening address (development). */
    kycCallbackUrl: string | undefined;
    /** How often each node polls overdue KYC results and resumes due workflows (0 = never). */
    workerIntervalMs: number;
  };
  /** Fraud investigations: a held payment scored at most this is released by the customer's "it was me". */
  fraudCases: { selfReleaseMaxScore: number };
  /** The fraud decision engine: on/off, how long a node keeps the active rule set, the dry-run bound. */
  fraud: { enabled: boolean; ruleSetCacheS: number; dryRunDecisionsMax: number };
  /** Sanctions and PEP screening: the match threshold, bounds, and whether to load the bundled OFAC list. */
  screening: { threshold: number; hitsMax: number; rescreenBatchMax: number; loadBundledList: boolean };
  /** AML monitoring: how long a node keeps the active rule set, and how many recent movements one evaluation reads. */
  aml: { ruleSetCacheS: number; windowMovementsMax: number };
  outbox: { batchMax: number; pollIntervalMs: number; handlerAttemptsMax: number };
  idempotencyRetentionS: number;
  /** Delta sync and the real-time stream (src/modules/sync). */
  sync: SyncConfig;
  shutdownTimeoutMs: number;
  rateLimit: { authPerMinute: number; authPerAccountPerMinute: number };
}

export interface SyncConfig {
  /** Change-log entries older than this are pruned; a cursor from before them answers 410. */
  retentionDays: number;
  /** Entries pruned per maintenance pass. */
  pruneBatchMax: number;
  /** Items of the first (snapshot) sync: accounts, payees, recent payments and transactions. */
  snapshotItemsMax: number;
  /** Processed commands of the calling device listed by a sync: this far back, at most this many. */
  commandsWindowS: number;
  commandsMax: number;
  /** Server-sent events: heartbeat interval, connections per customer per node, connection lifetime. */
  streamHeartbeatS: number;
  streamConnectionsPerCustomerMax: number;
  streamMaxDurationS: number;
  /** Responses at least this large are compressed (gzip or br) when the client accepts it. */
  compressThresholdBytes: number;
}

/** A provider URL unset turns its channel off: deliveries on it are recorded as skipped. */
export interface NotificationsConfig {
  push: { url: string | undefined; apiKey: string | undefined };
  email: { url: string | undefined; apiKey: string | undefined };
  sms: { url: string | undefined; apiKey: string | undefined };
  timeoutMs: number;
  /** How often each node sends queued deliveries (0 = never), how many per pass, the lease. */
  senderIntervalMs: number;
  sendBatchMax: number;
  leaseS: number;
  /** Attempts per delivery, the first included, before it is marked failed; the longest backoff. */
  attemptsMax: number;
  retryBackoffMaxMs: number;
  /** Notifications per page of the notification centre. */
  pageMax: number;
}

/** The legacy core banking system behind Omnicore; `url` unset means no legacy-mastered accounts. */
export interface LegacyConfig {
  url: string | undefined;
  apiKey: string | undefined;
  /** Upper bound on one call to the core (it is slow: seconds). */
  timeoutMs: number;
  /** How often each node reads the change feed (0 = never). */
  feedIntervalMs: number;
  /** Changes asked for per page of the feed. */
  feedPageMax: number;
  /** How often each node sends queued postings (0 = never), how many per pass, the longest backoff. */
  senderIntervalMs: number;
  sendBatchMax: number;
  retryBackoffMaxMs: number;
  /** How often the reconciliation job runs (0 = never). */
  reconcileIntervalS: number;
  /** The mirror counts as stale when the feed was last read longer ago than this. */
  staleAfterS: number;
  /** While the core is down or the mirror stale: the most a legacy account may have unposted. */
  exposureMaxMinor: bigint;
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

  list(name: string, fallback: string[]): string[] {
    const raw = this.optional(name);
    if (raw === undefined) return fallback;
    return raw
      .split(",")
      .map((item) => item.trim())
      .filter((item) => item !== "");
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

/**
 * Defaults per channel. Web: PSD2 RTS art. 4(3)(d) caps inactivity at 5 minutes. Mobile: 15
 * minutes on a new device, 30 days on a device trusted after a strong login, and at most 90 days
 * before a new strong authentication (RTS art. 10). Staff: a working day.
 */
const SESSION_DEFAULTS: Record<SessionChannel, SessionPolicy> = {
  web: { idleS: 300, trustedIdleS: 300, absoluteS: 43_200 },
  mobile: { idleS: 900, trustedIdleS: 2_592_000, absoluteS: 7_776_000 },
  open_banking: { idleS: 300, trustedIdleS: 300, absoluteS: 3_600 },
  branch: { idleS: 900, trustedIdleS: 900, absoluteS: 36_000 },
  contact_centre: { idleS: 900, trustedIdleS: 900, absoluteS: 36_000 },
};
/** PSD2 RTS art. 4(3)(d): no more than 5 minutes without activity on the web. */
const WEB_IDLE_MAX_S = 300;

function readSessionPolicies(read: Reader): Record<SessionChannel, SessionPolicy> {
  const policies = {} as Record<SessionChannel, SessionPolicy>;
  for (const channel of SESSION_CHANNELS) {
    const name = `OMNICORE_SESSION_${channel.toUpperCase()}`;
    const defaults = SESSION_DEFAULTS[channel];
    const idleS = read.integer(`${name}_IDLE_S`, defaults.idleS, 60, 31_536_000);
    const trustedIdleS = read.integer(
      `${name}_TRUSTED_IDLE_S`,
      Math.max(idleS, defaults.trustedIdleS),
      60,
      31_536_000,
    );
    const absoluteS = read.integer(`${name}_ABSOLUTE_S`, defaults.absoluteS, 300, 31_536_000);
    if (trustedIdleS < idleS) read.problems.push(`${name}_TRUSTED_IDLE_S must not be below ${name}_IDLE_S`);
    if (absoluteS < trustedIdleS && absoluteS < idleS)
      read.problems.push(`${name}_ABSOLUTE_S must not be below the idle timeout`);
    policies[channel] = { idleS, trustedIdleS, absoluteS };
  }
  if (policies.web.idleS > WEB_IDLE_MAX_S || policies.web.trustedIdleS > WEB_IDLE_MAX_S) {
    read.problems.push(
      `OMNICORE_SESSION_WEB_IDLE_S and _TRUSTED_IDLE_S must be at most ${WEB_IDLE_MAX_S} (PSD2 RTS art. 4)`,
    );
  }
  return policies;
}

function readStepUp(read: Reader): StepUpConfig {
  const mode = read.string("OMNICORE_STEP_UP", "required");
  if (mode !== "required" && mode !== "off")
    read.problems.push(`OMNICORE_STEP_UP must be required or off, got "${mode}"`);
  return {
    enabled: mode !== "off",
    transferAboveMinor: read.integer("OMNICORE_STEP_UP_TRANSFER_ABOVE_MINOR", 3_000, 0, 1e15),
    currency: read.string("OMNICORE_SCA_EXEMPTION_CURRENCY", "EUR"),
    exemptSingleMaxMinor: read.integer("OMNICORE_SCA_EXEMPT_SINGLE_MAX_MINOR", 3_000, 0, 1e15),
    exemptCumulativeMaxMinor: read.integer("OMNICORE_SCA_EXEMPT_CUMULATIVE_MAX_MINOR", 10_000, 0, 1e15),
    exemptCountMax: read.integer("OMNICORE_SCA_EXEMPT_COUNT_MAX", 5, 0, 1_000),
  };
}

/** Defaults per tier: €1,000/€2,000 basic, €10,000/€25,000 standard, €50,000/€100,000 premium. */
const DEFAULT_TRANSFER_LIMITS: TransferLimitsConfig = {
  currency: "EUR",
  tiers: {
    basic: { perTransactionMinor: 100_000, dailyMinor: 200_000 },
    standard: { perTransactionMinor: 1_000_000, dailyMinor: 2_500_000 },
    premium: { perTransactionMinor: 5_000_000, dailyMinor: 10_000_000 },
  },
  // Third parties initiate payments with less context about the customer: €5,000 a day.
  channelDailyMinor: { open_banking: 500_000 },
};

/** OMNICORE_TRANSFER_LIMITS: JSON in the shape of TransferLimitsConfig; what it names replaces the default. */
function readTransferLimits(read: Reader): TransferLimitsConfig {
  const raw = read.optional("OMNICORE_TRANSFER_LIMITS");
  if (raw === undefined) return DEFAULT_TRANSFER_LIMITS;
  try {
    const given = JSON.parse(raw) as Partial<TransferLimitsConfig>;
    const limits: TransferLimitsConfig = {
      currency: given.currency ?? DEFAULT_TRANSFER_LIMITS.currency,
      tiers: { ...DEFAULT_TRANSFER_LIMITS.tiers, ...(given.tiers ?? {}) },
      channelDailyMinor: given.channelDailyMinor ?? DEFAULT_TRANSFER_LIMITS.channelDailyMinor,
    };
    const amounts = [
      ...Object.values(limits.tiers).flatMap((tier) => [tier.perTransactionMinor, tier.dailyMinor]),
      ...Object.values(limits.channelDailyMinor),
    ];
    if (!/^[A-Z]{3}$/.test(limits.currency) || !amounts.every((a) => Number.isSafeInteger(a) && a >= 0)) {
      throw new Error("amounts must be whole minor units >= 0 and currency a 3-letter code");
    }
    return limits;
  } catch (error) {
    read.problems.push(`OMNICORE_TRANSFER_LIMITS is not valid: ${(error as Error).message}`);
    return DEFAULT_TRANSFER_LIMITS;
  }
}

/** OMNICORE_FRAUD=on|off: off answers every payment "allow" without storing a decision (sandboxes only). */
function readFraud(read: Reader): Config["fraud"] {
  const mode = read.string("OMNICORE_FRAUD", "on");
  if (mode !== "on" && mode !== "off") read.problems.push(`OMNICORE_FRAUD must be on or off, got "${mode}"`);
  return {
    enabled: mode !== "off",
    ruleSetCacheS: read.integer("OMNICORE_FRAUD_RULE_SET_CACHE_S", 5, 0, 300),
    dryRunDecisionsMax: read.integer("OMNICORE_FRAUD_DRY_RUN_DECISIONS_MAX", 10_000, 100, 1_000_000),
  };
}

/**
 * OMNICORE_SCREENING_THRESHOLD: the score (0.5 to 1, a decimal) from which a name match is a hit.
 * Below 0.5 nearly every common name would match something; 1 would miss every spelling variant.
 */
function readScreening(read: Reader): Config["screening"] {
  const raw = read.optional("OMNICORE_SCREENING_THRESHOLD");
  let threshold = 0.85;
  if (raw !== undefined) {
    const value = Number(raw);
    if (!/^(0(\.\d{1,4})?|1(\.0{1,4})?)$/.test(raw) || value < 0.5) {
      read.problems.push(`OMNICORE_SCREENING_THRESHOLD must be a decimal from 0.5 to 1, got "${raw}"`);
    } else {
      threshold = value;
    }
  }
  const bundled = read.string("OMNICORE_SCREENING_BUNDLED_LIST", "on");
  if (bundled !== "on" && bundled !== "off")
    read.problems.push(`OMNICORE_SCREENING_BUNDLED_LIST must be on or off, got "${bundled}"`);
  return {
    threshold,
    hitsMax: read.integer("OMNICORE_SCREENING_HITS_MAX", 20, 1, 200),
    rescreenBatchMax: read.integer("OMNICORE_SCREENING_RESCREEN_BATCH_MAX", 200, 1, 10_000),
    loadBundledList: bundled !== "off",
  };
}

/** The connector defaults; `OMNICORE_CONNECTOR_*` overrides each of them. */
function readConnectorDefaults(read: Reader): ConnectorDefaults {
  const d = CONNECTOR_DEFAULTS;
  const retryBackoffInitialMs = read.integer(
    "OMNICORE_CONNECTOR_RETRY_BACKOFF_MS",
    d.retryBackoffInitialMs,
    1,
    60_000,
  );
  return {
    attemptsMax: read.integer("OMNICORE_CONNECTOR_ATTEMPTS_MAX", d.attemptsMax, 1, 10),
    retryBackoffInitialMs,
    retryBackoffMaxMs: read.integer(
      "OMNICORE_CONNECTOR_RETRY_BACKOFF_MAX_MS",
      Math.max(d.retryBackoffMaxMs, retryBackoffInitialMs),
      retryBackoffInitialMs,
      600_000,
    ),
    breakerFailuresMax: read.integer(
      "OMNICORE_CONNECTOR_BREAKER_FAILURES_MAX",
      d.breakerFailuresMax,
      1,
      1_000,
    ),
    breakerHalfOpenAfterMs: read.integer(
      "OMNICORE_CONNECTOR_BREAKER_HALF_OPEN_AFTER_MS",
      d.breakerHalfOpenAfterMs,
      100,
      3_600_000,
    ),
    concurrencyMax: read.integer("OMNICORE_CONNECTOR_CONCURRENCY_MAX", d.concurrencyMax, 1, 10_000),
    queueMax: read.integer("OMNICORE_CONNECTOR_QUEUE_MAX", d.queueMax, 0, 1_000_000),
  };
}

/**
 * OMNICORE_OUTBOUND_HOSTS defaults to the hosts of the configured connector URLs, so a default
 * install works; set explicitly, it must still name each of them, or that connector could never
 * be called. Plain http is refused to anything but loopback (the development simulators) unless
 * OMNICORE_OUTBOUND_ALLOW_PLAINTEXT=true. Both are checked here to fail at start, and again by
 * the connectors on every call.
 */
function readOutbound(read: Reader, connectorUrls: Record<string, string | undefined>): OutboundPolicyConfig {
  const urls = Object.entries(connectorUrls).flatMap(([name, raw]) => {
    if (raw === undefined) return [];
    try {
      return [{ name, url: new URL(raw) }];
    } catch {
      return []; // Reader.url has already reported it.
    }
  });
  const outbound: OutboundPolicyConfig = {
    allowedHosts: read
      .list("OMNICORE_OUTBOUND_HOSTS", [...new Set(urls.map(({ url }) => url.hostname))])
      .map((host) => host.toLowerCase()),
    allowPlaintext: read.boolean("OMNICORE_OUTBOUND_ALLOW_PLAINTEXT", false),
  };
  for (const { name, url } of urls) {
    const hosts = outbound.allowedHosts;
    if (!hosts.includes(url.hostname.toLowerCase()) && !hosts.includes(url.host.toLowerCase())) {
      read.problems.push(`${name}'s host ${url.hostname} is not in OMNICORE_OUTBOUND_HOSTS`);
    }
    if (url.protocol === "http:" && !outbound.allowPlaintext && !isLoopbackHost(url.hostname)) {
      read.problems.push(
        `${name} uses plain http to ${url.hostname}: use https, or set OMNICORE_OUTBOUND_ALLOW_PLAINTEXT=true on a closed test network`,
      );
    }
  }
  // Node reads this variable itself; set to 0 it would turn certificate checks off for every call.
  if (read.env.NODE_TLS_REJECT_UNAUTHORIZED === "0") {
    read.problems.push(
      "NODE_TLS_REJECT_UNAUTHORIZED=0 turns off TLS verification of every outbound call; unset it",
    );
  }
  return outbound;
}

function readNotifications(read: Reader): NotificationsConfig {
  const provider = (name: string) => ({
    url: read.url(`OMNICORE_${name}_URL`, ["http:", "https:"]),
    apiKey: read.optional(`OMNICORE_${name}_API_KEY`),
  });
  return {
    push: provider("PUSH"),
    email: provider("EMAIL"),
    sms: provider("SMS"),
    timeoutMs: read.integer("OMNICORE_NOTIFICATIONS_TIMEOUT_MS", 5_000, 100, 60_000),
    senderIntervalMs: read.integer("OMNICORE_NOTIFICATIONS_SENDER_INTERVAL_MS", 500, 0, 60_000),
    sendBatchMax: read.integer("OMNICORE_NOTIFICATIONS_SEND_BATCH_MAX", 50, 1, 1_000),
    leaseS: read.integer("OMNICORE_NOTIFICATIONS_LEASE_S", 60, 5, 3_600),
    attemptsMax: read.integer("OMNICORE_NOTIFICATIONS_ATTEMPTS_MAX", 8, 1, 100),
    retryBackoffMaxMs: read.integer("OMNICORE_NOTIFICATIONS_RETRY_BACKOFF_MAX_MS", 60_000, 10, 3_600_000),
    pageMax: read.integer("OMNICORE_NOTIFICATIONS_PAGE_MAX", 100, 1, 1_000),
  };
}

function readLegacy(read: Reader): LegacyConfig {
  const exposure = read.string("OMNICORE_LEGACY_EXPOSURE_MAX_MINOR", "100000");
  if (!/^(0|[1-9]\d{0,17})$/.test(exposure)) {
    read.problems.push(
      `OMNICORE_LEGACY_EXPOSURE_MAX_MINOR must be a whole number of minor units, got "${exposure}"`,
    );
  }
  return {
    url: read.url("OMNICORE_LEGACY_URL", ["http:", "https:"]),
    apiKey: read.optional("OMNICORE_LEGACY_API_KEY"),
    timeoutMs: read.integer("OMNICORE_LEGACY_TIMEOUT_MS", 30_000, 100, 120_000),
    feedIntervalMs: read.integer("OMNICORE_LEGACY_FEED_INTERVAL_MS", 1_000, 0, 600_000),
    feedPageMax: read.integer("OMNICORE_LEGACY_FEED_PAGE_MAX", 500, 1, 1_000),
    senderIntervalMs: read.integer("OMNICORE_LEGACY_SENDER_INTERVAL_MS", 200, 0, 60_000),
    sendBatchMax: read.integer("OMNICORE_LEGACY_SEND_BATCH_MAX", 50, 1, 1_000),
    retryBackoffMaxMs: read.integer("OMNICORE_LEGACY_RETRY_BACKOFF_MAX_MS", 30_000, 10, 3_600_000),
    reconcileIntervalS: read.integer("OMNICORE_LEGACY_RECONCILE_INTERVAL_S", 300, 0, 86_400),
    staleAfterS: read.integer("OMNICORE_LEGACY_STALE_AFTER_S", 60, 1, 86_400),
    exposureMaxMinor: /^(0|[1-9]\d{0,17})$/.test(exposure) ? BigInt(exposure) : 0n,
  };
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
    },
    edge: {
      trustedProxies: read.list("OMNICORE_TRUSTED_PROXIES", []),
      countryHeader: read
        .string("OMNICORE_EDGE_COUNTRY_HEADER", DEFAULT_EDGE_HEADERS.countryHeader)
        .toLowerCase(),
      latitudeHeader: read
        .string("OMNICORE_EDGE_LATITUDE_HEADER", DEFAULT_EDGE_HEADERS.latitudeHeader)
        .toLowerCase(),
      longitudeHeader: read
        .string("OMNICORE_EDGE_LONGITUDE_HEADER", DEFAULT_EDGE_HEADERS.longitudeHeader)
        .toLowerCase(),
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
      refreshReuseGraceS: read.integer("OMNICORE_REFRESH_REUSE_GRACE_S", 10, 0, 60),
      sessions: readSessionPolicies(read),
      lockout: {
        attemptsMax: read.integer("OMNICORE_LOCKOUT_ATTEMPTS", 5, 3, 10),
        durationS: read.integer("OMNICORE_LOCKOUT_DURATION_S", 1_800, 60, 86_400),
      },
      challengeTtlS: read.integer("OMNICORE_CHALLENGE_TTL_S", 300, 30, 900),
      totpIssuer: read.string("OMNICORE_TOTP_ISSUER", "Omnicore"),
      webauthn: {
        rpId: read.string("OMNICORE_WEBAUTHN_RP_ID", "localhost"),
        rpName: read.string("OMNICORE_WEBAUTHN_RP_NAME", "Omnicore"),
        origins: read.list("OMNICORE_WEBAUTHN_ORIGINS", ["http://localhost:3000"]),
      },
      stepUp: readStepUp(read),
      anomaly: {
        impossibleTravelKmh: read.integer("OMNICORE_ANOMALY_TRAVEL_KMH", 900, 100, 100_000),
        concurrentDistanceKm: read.integer("OMNICORE_ANOMALY_CONCURRENT_KM", 500, 10, 20_000),
        stepUpScore: read.integer("OMNICORE_ANOMALY_STEP_UP_SCORE", 30, 1, 100),
        denyScore: read.integer("OMNICORE_ANOMALY_DENY_SCORE", 80, 1, 101),
      },
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
      limits: readTransferLimits(read),
    },
    scheduler: {
      intervalMs: read.integer("OMNICORE_SCHEDULER_INTERVAL_MS", 60_000, 0, 86_400_000),
      leaseS: read.integer("OMNICORE_SCHEDULER_LEASE_S", 120, 10, 3_600),
    },
    rail: {
      url: read.url("OMNICORE_RAIL_URL", ["http:", "https:"]),
      webhookSecret: read.optional("OMNICORE_RAIL_WEBHOOK_SECRET"),
      webhookToleranceS: read.integer("OMNICORE_RAIL_WEBHOOK_TOLERANCE_S", 300, 10, 3_600),
      timeoutMs: read.integer("OMNICORE_RAIL_TIMEOUT_MS", 5_000, 100, 60_000),
      bankBic: read.string("OMNICORE_BANK_BIC", "OMNIDEFFXXX"),
      senderIntervalMs: read.integer("OMNICORE_RAIL_SENDER_INTERVAL_MS", 200, 0, 60_000),
      sendBatchMax: read.integer("OMNICORE_RAIL_SEND_BATCH_MAX", 50, 1, 1_000),
      retryBackoffMaxMs: read.integer("OMNICORE_RAIL_RETRY_BACKOFF_MAX_MS", 60_000, 100, 3_600_000),
    },
    kyc: {
      url: read.url("OMNICORE_KYC_URL", ["http:", "https:"]),
      apiKey: read.optional("OMNICORE_KYC_API_KEY"),
      webhookSecret: read.optional("OMNICORE_KYC_WEBHOOK_SECRET"),
      webhookToleranceS: read.integer("OMNICORE_KYC_WEBHOOK_TOLERANCE_S", 300, 10, 3_600),
      timeoutMs: read.integer("OMNICORE_KYC_TIMEOUT_MS", 5_000, 100, 60_000),
      pollAfterS: read.integer("OMNICORE_KYC_POLL_AFTER_S", 30, 1, 86_400),
    },
    legacy: readLegacy(read),
    notifications: readNotifications(read),
    // Filled in below, once the connector URLs are read.
    outbound: { allowedHosts: [], allowPlaintext: false },
    connectors: readConnectorDefaults(read),
    onboarding: {
      currency: read.string("OMNICORE_ONBOARDING_CURRENCY", "EUR"),
      // FATF's "call for action" jurisdictions (the black list) by default.
      highRiskCountries: read.list("OMNICORE_ONBOARDING_HIGH_RISK_COUNTRIES", ["KP", "IR", "MM"]),
      basicWithoutDocument: read.boolean("OMNICORE_ONBOARDING_BASIC_WITHOUT_DOCUMENT", true),
      kycCallbackUrl: read.url("OMNICORE_KYC_CALLBACK_URL", ["http:", "https:"]),
      workerIntervalMs: read.integer("OMNICORE_ONBOARDING_WORKER_INTERVAL_MS", 2_000, 0, 600_000),
    },
    fraudCases: {
      selfReleaseMaxScore: read.integer("OMNICORE_FRAUD_SELF_RELEASE_MAX_SCORE", 60, 0, 100),
    },
    fraud: readFraud(read),
    screening: readScreening(read),
    aml: {
      ruleSetCacheS: read.integer("OMNICORE_AML_RULE_SET_CACHE_S", 5, 0, 300),
      windowMovementsMax: read.integer("OMNICORE_AML_WINDOW_MOVEMENTS_MAX", 1_000, 10, 100_000),
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
    sync: {
      retentionDays: read.integer("OMNICORE_SYNC_RETENTION_DAYS", 90, 1, 3_650),
      pruneBatchMax: read.integer("OMNICORE_SYNC_PRUNE_BATCH_MAX", 5_000, 1, 1_000_000),
      snapshotItemsMax: read.integer("OMNICORE_SYNC_SNAPSHOT_ITEMS_MAX", 500, 10, 5_000),
      commandsWindowS: read.integer("OMNICORE_SYNC_COMMANDS_WINDOW_S", 86_400, 60, 31_536_000),
      commandsMax: read.integer("OMNICORE_SYNC_COMMANDS_MAX", 100, 0, 1_000),
      streamHeartbeatS: read.integer("OMNICORE_SSE_HEARTBEAT_S", 15, 1, 300),
      streamConnectionsPerCustomerMax: read.integer("OMNICORE_SSE_CONNECTIONS_PER_CUSTOMER_MAX", 5, 1, 100),
      streamMaxDurationS: read.integer("OMNICORE_SSE_MAX_DURATION_S", 3_600, 10, 86_400),
      compressThresholdBytes: read.integer("OMNICORE_COMPRESS_THRESHOLD_BYTES", 1_024, 0, 1_048_576),
    },
    shutdownTimeoutMs: read.integer("OMNICORE_SHUTDOWN_TIMEOUT_MS", 10_000, 100, 300_000),
    rateLimit: {
      authPerMinute: read.integer("OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE", 30, 1, 100_000),
      authPerAccountPerMinute: read.integer(
        "OMNICORE_RATE_LIMIT_AUTH_PER_ACCOUNT_PER_MINUTE",
        10,
        1,
        100_000,
      ),
    },
  };
  config.outbound = readOutbound(read, {
    OMNICORE_RAIL_URL: config.rail.url,
    OMNICORE_KYC_URL: config.kyc.url,
    OMNICORE_LEGACY_URL: config.legacy.url,
    OMNICORE_PUSH_URL: config.notifications.push.url,
    OMNICORE_EMAIL_URL: config.notifications.email.url,
    OMNICORE_SMS_URL: config.notifications.sms.url,
  });
  if (!LOG_LEVELS.includes(config.logLevel)) {
    read.problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}`);
  }
  if (config.admin.password !== undefined && config.admin.email === undefined) {
    read.problems.push("OMNICORE_ADMIN_PASSWORD is set but OMNICORE_ADMIN_EMAIL is not");
  }
  read.problems.push(...validateTrustedProxies(config.edge.trustedProxies));
  if (config.auth.anomaly.denyScore <= config.auth.anomaly.stepUpScore) {
    read.problems.push("OMNICORE_ANOMALY_DENY_SCORE must be above OMNICORE_ANOMALY_STEP_UP_SCORE");
  }
  if (!/^[A-Z]{6}[A-Z2-9][A-NP-Z0-9]([A-Z0-9]{3})?$/.test(config.rail.bankBic)) {
    read.problems.push("OMNICORE_BANK_BIC must be a BIC (ISO 9362), e.g. OMNIDEFFXXX");
  }
  if (config.rail.url && !config.rail.webhookSecret) {
    read.problems.push(
      "OMNICORE_RAIL_URL is set but OMNICORE_RAIL_WEBHOOK_SECRET is not: rail callbacks could not be verified",
    );
  }
  if (config.kyc.url && (!config.kyc.apiKey || !config.kyc.webhookSecret)) {
    read.problems.push(
      "OMNICORE_KYC_URL is set but OMNICORE_KYC_API_KEY or OMNICORE_KYC_WEBHOOK_SECRET is not: the provider could not be called or its webhooks verified",
    );
  }
  if (read.problems.length > 0) throw new ConfigError(read.problems);
  return config;
}
