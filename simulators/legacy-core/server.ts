import type { FastifyInstance, FastifyReply } from "fastify";
import { Type } from "typebox";
import { type Clock, systemClock } from "../../src/platform/clock.ts";
import { BackgroundWork } from "../shared/background.ts";
import { problem, startFaultServer } from "../shared/fault-server.ts";
import {
  type FaultControls,
  type FaultControlsPatch,
  FaultControlsPatchProperties,
  FaultInjector,
  faultControlsFrom,
  faultControlsFromEnv,
  type LatencyDistribution,
} from "../shared/faults.ts";
import {
  type LegacyAccount,
  type LegacyAccountSeed,
  LegacyCore,
  LegacyCoreError,
  type LegacyCoreLimits,
  type LegacyPosting,
  type PlantBreakInput,
  type PlantedBreak,
  type PostingRequest,
  type RejectionReason,
} from "./core.ts";

/**
 * A legacy core banking system for development, tests and the journey benchmark: accounts,
 * balances, idempotent postings, a change feed and an end-of-day export (see README.md). It is
 * deliberately slow and sometimes down, as the systems Omnicore fronts are: every API call waits
 * for a latency drawn from a distribution (seconds by default, scaled by `latencyScale`), some
 * fail, and outage windows or a manual `down` refuse them. Test controls seed accounts, reject
 * the next postings and plant breaks for reconciliation to find.
 */

export type {
  LegacyAccount,
  LegacyAccountSeed,
  LegacyPosting,
  PlantBreakInput,
  PlantedBreak,
  RejectionReason,
} from "./core.ts";

export interface LegacyCoreControls extends FaultControls {
  /** The next this many new postings are rejected with `rejectionReason`, whatever the balance. */
  rejectNextPostings: number;
  rejectionReason: RejectionReason;
}

export type LegacyCoreControlsPatch = FaultControlsPatch &
  Partial<Pick<LegacyCoreControls, "rejectNextPostings" | "rejectionReason">>;

export interface LegacyCoreSimulatorOptions extends Omit<LegacyCoreControlsPatch, "downForMs"> {
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: string;
  /** When set, every call needs it in `x-api-key`. */
  apiKey?: string;
  /** Accounts the core starts with. */
  accounts?: LegacyAccountSeed[];
  limits?: Partial<LegacyCoreLimits>;
  /** Changes one `GET /changes` returns at most. */
  changesPageMax?: number;
  random?: () => number;
  clock?: Clock;
  onError?: (error: unknown) => void;
}

export interface LegacyCoreSimulator {
  url: string;
  close(): Promise<void>;
  /** Changes some controls (when given) and answers all of them. */
  controls(patch?: LegacyCoreControlsPatch): LegacyCoreControls;
  seedAccounts(accounts: LegacyAccountSeed[]): LegacyAccount[];
  accounts(): LegacyAccount[];
  postings(): LegacyPosting[];
  /** Changes the core's records without telling the feed, for reconciliation to find. */
  plantBreak(input: PlantBreakInput): PlantedBreak;
  breaks(): PlantedBreak[];
}

/** Log-normal around the brief's 5 s, with a long tail. */
export const LEGACY_CORE_DEFAULT_LATENCY: LatencyDistribution = {
  kind: "log-normal",
  medianMs: 5_000,
  p99Ms: 12_000,
};

const NAME = "legacy-core-simulator";
const BODY_MAX_BYTES = 1_048_576;
const REJECTION_REASONS = [
  "insufficient_funds",
  "account_closed",
  "unknown_account",
  "currency_mismatch",
] as const;
const DEFAULT_LIMITS: LegacyCoreLimits = {
  accountsMax: 100_000,
  postingsMax: 1_000_000,
  changesRetainedMax: 2_000_000,
};

const MinorSchema = Type.String({ pattern: "^-?(0|[1-9][0-9]{0,17})$" });
const PostingRequestSchema = Type.Object(
  {
    postingId: Type.String({ minLength: 1, maxLength: 100 }),
    accountId: Type.String({ minLength: 1, maxLength: 64 }),
    amountMinor: Type.String({ pattern: "^-?[1-9][0-9]{0,17}$" }),
    currency: Type.String({ pattern: "^[A-Z]{3}$" }),
    reference: Type.String({ maxLength: 140 }),
  },
  { additionalProperties: false },
);
const AccountSeedSchema = Type.Object(
  {
    id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    number: Type.Optional(Type.String({ pattern: "^[0-9]{1,10}$" })),
    iban: Type.Optional(Type.String({ pattern: "^[A-Z]{2}[0-9]{2}[A-Z0-9]{1,30}$" })),
    currency: Type.String({ pattern: "^[A-Z]{3}$" }),
    ownerRef: Type.String({ minLength: 1, maxLength: 100 }),
    bookedMinor: Type.Optional(MinorSchema),
    availableMinor: Type.Optional(MinorSchema),
    overdraftLimitMinor: Type.Optional(MinorSchema),
    status: Type.Optional(Type.Union([Type.Literal("open"), Type.Literal("closed")])),
  },
  { additionalProperties: false },
);
const PlantBreakSchema = Type.Union([
  Type.Object(
    { kind: Type.Literal("balance_changed"), accountId: Type.String(), deltaMinor: MinorSchema },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      kind: Type.Literal("posting_unfed"),
      accountId: Type.String(),
      amountMinor: MinorSchema,
      reference: Type.Optional(Type.String({ maxLength: 140 })),
      postingId: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      kind: Type.Union([Type.Literal("posting_dropped"), Type.Literal("posting_duplicated")]),
      postingId: Type.String(),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    { kind: Type.Literal("posting_amount_changed"), postingId: Type.String(), amountMinor: MinorSchema },
    { additionalProperties: false },
  ),
]);

const ERROR_STATUS: Record<LegacyCoreError["slug"], number> = {
  validation: 400,
  "not-found": 404,
  conflict: 409,
  gone: 410,
  capacity: 507,
};

function sendError(reply: FastifyReply, error: unknown): FastifyReply {
  if (!(error instanceof LegacyCoreError)) throw error;
  return problem(reply, NAME, ERROR_STATUS[error.slug], error.slug, error.message);
}

type Rejections = Pick<LegacyCoreControls, "rejectNextPostings" | "rejectionReason">;

function checkedRejections(controls: Rejections): Rejections {
  const { rejectNextPostings, rejectionReason } = controls;
  if (!Number.isInteger(rejectNextPostings) || rejectNextPostings < 0 || rejectNextPostings > 1_000_000) {
    throw new Error("rejectNextPostings must be a whole number from 0 to 1000000");
  }
  if (!REJECTION_REASONS.includes(rejectionReason)) {
    throw new Error(`rejectionReason must be one of ${REJECTION_REASONS.join(", ")}`);
  }
  return controls;
}

/** Parses `asOf`: a calendar date means the end of that day (UTC), a timestamp that instant. */
function asOfMs(text: string | undefined, nowMs: number): number {
  if (text === undefined || text === "") return nowMs;
  const date = /^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T23:59:59.999Z` : text;
  const ms = Date.parse(date);
  if (Number.isNaN(ms))
    throw new LegacyCoreError("validation", "asOf must be a date or an ISO 8601 timestamp");
  return ms;
}

class LegacyCoreService {
  readonly core: LegacyCore;
  readonly faults: FaultInjector;
  #rejectNextPostings: number;
  #rejectionReason: RejectionReason;
  readonly #changesPageMax: number;
  readonly #clock: Clock;

  constructor(options: LegacyCoreSimulatorOptions, clock: Clock) {
    this.#clock = clock;
    this.core = new LegacyCore({ clock, limits: { ...DEFAULT_LIMITS, ...options.limits } });
    const { rejectNextPostings, rejectionReason } = checkedRejections({
      rejectNextPostings: options.rejectNextPostings ?? 0,
      rejectionReason: options.rejectionReason ?? "insufficient_funds",
    });
    this.#rejectNextPostings = rejectNextPostings;
    this.#rejectionReason = rejectionReason;
    this.#changesPageMax = options.changesPageMax ?? 1_000;
    this.faults = new FaultInjector({
      clock,
      random: options.random ?? Math.random,
      controls: faultControlsFrom(options, LEGACY_CORE_DEFAULT_LATENCY),
    });
    if (options.accounts) this.core.seedAccounts(options.accounts);
  }

  controls(patch: LegacyCoreControlsPatch = {}): LegacyCoreControls {
    const { rejectNextPostings, rejectionReason, ...faultPatch } = patch;
    const checked = checkedRejections({
      rejectNextPostings: rejectNextPostings ?? this.#rejectNextPostings,
      rejectionReason: rejectionReason ?? this.#rejectionReason,
    });
    const faults = this.faults.controls(faultPatch);
    this.#rejectNextPostings = checked.rejectNextPostings;
    this.#rejectionReason = checked.rejectionReason;
    return {
      ...faults,
      rejectNextPostings: this.#rejectNextPostings,
      rejectionReason: this.#rejectionReason,
    };
  }

  #forcedRejection(): RejectionReason | null {
    if (this.#rejectNextPostings === 0) return null;
    this.#rejectNextPostings -= 1;
    return this.#rejectionReason;
  }

  registerApi(api: FastifyInstance): void {
    const limitSchema = Type.Integer({ minimum: 1, maximum: this.#changesPageMax });
    api.get(
      "/accounts",
      {
        schema: {
          querystring: Type.Object({
            offset: Type.Optional(Type.Integer({ minimum: 0 })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000 })),
          }),
        },
      },
      async (request) => {
        const { offset = 0, limit = 100 } = request.query as { offset?: number; limit?: number };
        const all = this.core.accounts();
        const accounts = all.slice(offset, offset + limit);
        return {
          accounts,
          nextOffset: offset + accounts.length < all.length ? offset + accounts.length : null,
        };
      },
    );
    api.get(
      "/accounts/:accountId",
      { schema: { params: Type.Object({ accountId: Type.String({ maxLength: 64 }) }) } },
      async (request, reply) => {
        const account = this.core.account((request.params as { accountId: string }).accountId);
        if (!account) return problem(reply, NAME, 404, "not-found", "No account has this id.");
        return account;
      },
    );
    api.post("/postings", { schema: { body: PostingRequestSchema } }, async (request, reply) => {
      const answer = this.post(request.body as PostingRequest);
      return this.#postingReply(reply, answer, request.body as PostingRequest);
    });
    api.get(
      "/changes",
      {
        schema: {
          querystring: Type.Object({
            after: Type.Optional(Type.Integer({ minimum: 0 })),
            limit: Type.Optional(limitSchema),
          }),
        },
      },
      async (request, reply) => {
        const { after = 0, limit = Math.min(100, this.#changesPageMax) } = request.query as {
          after?: number;
          limit?: number;
        };
        try {
          return this.core.changes(after, limit);
        } catch (error) {
          return sendError(reply, error);
        }
      },
    );
    api.get(
      "/export",
      { schema: { querystring: Type.Object({ asOf: Type.Optional(Type.String({ maxLength: 40 })) }) } },
      async (request, reply) => {
        try {
          return this.core.export(
            asOfMs((request.query as { asOf?: string }).asOf, this.#clock.now().getTime()),
          );
        } catch (error) {
          return sendError(reply, error);
        }
      },
    );
  }

  #postingReply(
    reply: FastifyReply,
    answer: ReturnType<LegacyCore["post"]>,
    request: PostingRequest,
  ): FastifyReply {
    if (answer.kind === "conflict") {
      return problem(
        reply,
        NAME,
        409,
        "posting-id-reused",
        `Posting ${request.postingId} was made with another body.`,
      );
    }
    if (answer.kind === "full")
      return problem(reply, NAME, 503, "capacity", "The core keeps no more postings.");
    return reply.code(answer.outcome.status === "posted" ? 201 : 422).send(answer.outcome);
  }

  /** Applies forced rejections: the first time a posting id is seen, it may be the next to reject. */
  post(request: PostingRequest): ReturnType<LegacyCore["post"]> {
    const forced = this.core.hasPosting(request.postingId) ? null : this.#forcedRejection();
    return this.core.post(request, forced);
  }

  registerAdmin(admin: FastifyInstance): void {
    admin.post(
      "/admin/accounts",
      {
        schema: {
          body: Type.Object(
            { accounts: Type.Array(AccountSeedSchema, { maxItems: 10_000 }) },
            { additionalProperties: false },
          ),
        },
      },
      async (request, reply) => {
        try {
          const accounts = this.core.seedAccounts(
            (request.body as { accounts: LegacyAccountSeed[] }).accounts,
          );
          return reply.code(201).send({ accounts });
        } catch (error) {
          return sendError(reply, error);
        }
      },
    );
    admin.get("/admin/breaks", async () => ({ breaks: this.core.breaks() }));
    admin.post("/admin/breaks", { schema: { body: PlantBreakSchema } }, async (request, reply) => {
      try {
        return reply.code(201).send(this.core.plantBreak(request.body as PlantBreakInput));
      } catch (error) {
        return sendError(reply, error);
      }
    });
  }
}

export async function startLegacyCoreSimulator(
  options: LegacyCoreSimulatorOptions = {},
): Promise<LegacyCoreSimulator> {
  const clock = options.clock ?? systemClock;
  const service = new LegacyCoreService(options, clock);
  const onError = options.onError ?? ((error) => console.error("legacy-core simulator:", error));
  const server = await startFaultServer({
    name: NAME,
    port: options.port ?? 0,
    host: options.host ?? "127.0.0.1",
    apiKey: options.apiKey,
    bodyMaxBytes: BODY_MAX_BYTES,
    faults: service.faults,
    work: new BackgroundWork(onError),
    onError,
    api: (api) => service.registerApi(api),
    admin: (admin) => service.registerAdmin(admin),
    controls: (patch) => service.controls(patch as LegacyCoreControlsPatch),
    controlsPatchProperties: {
      ...FaultControlsPatchProperties,
      rejectNextPostings: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
      rejectionReason: Type.Optional(Type.Union(REJECTION_REASONS.map((reason) => Type.Literal(reason)))),
    },
  });
  return {
    url: server.url,
    close: () => server.close(),
    controls: (patch) => service.controls(patch),
    seedAccounts: (accounts) => service.core.seedAccounts(accounts),
    accounts: () => service.core.accounts(),
    postings: () => service.core.postings(),
    plantBreak: (input) => service.core.plantBreak(input),
    breaks: () => service.core.breaks(),
  };
}

// ————— Configuration from the environment —————

/** Demo accounts for `npm run simulators`: `LEGACY_DEMO_ACCOUNTS` of them (default 3), EUR. */
function demoAccounts(count: number): LegacyAccountSeed[] {
  return Array.from({ length: count }, (_, index) => ({
    currency: "EUR",
    ownerRef: `legacy-customer-${index + 1}`,
    bookedMinor: BigInt(100_000 * (index + 1)),
  }));
}

export function legacyCoreOptionsFromEnv(env: NodeJS.ProcessEnv): LegacyCoreSimulatorOptions {
  const { downUntil: _, ...faults } = faultControlsFromEnv(env, "LEGACY_", LEGACY_CORE_DEFAULT_LATENCY);
  const demo = Number(env.LEGACY_DEMO_ACCOUNTS?.trim() || 3);
  if (!Number.isInteger(demo) || demo < 0 || demo > 10_000)
    throw new Error("LEGACY_DEMO_ACCOUNTS must be 0 to 10000");
  return {
    port: Number(env.LEGACY_PORT?.trim() || 4300),
    host: env.LEGACY_HOST?.trim() || "127.0.0.1",
    apiKey: env.LEGACY_API_KEY || undefined,
    ...faults,
    accounts: demoAccounts(demo),
  };
}

/** Starts the legacy core from the environment and prints where it listens. */
export async function startLegacyCoreFromEnv(env: NodeJS.ProcessEnv): Promise<LegacyCoreSimulator> {
  const options = legacyCoreOptionsFromEnv(env);
  const simulator = await startLegacyCoreSimulator(options);
  console.info(
    `legacy core listening on ${simulator.url} (latency ${JSON.stringify(options.latency)} × ${options.latencyScale}, ${simulator.accounts().length} accounts)`,
  );
  return simulator;
}

if (import.meta.main) {
  const simulator = await startLegacyCoreFromEnv(process.env);
  const stop = () => void simulator.close().then(() => process.exit(0));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
