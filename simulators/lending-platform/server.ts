import { randomUUID } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { Type } from "typebox";
import { type Clock, systemClock } from "../../src/platform/clock.ts";
import { BackgroundWork } from "../shared/background.ts";
import { startFaultServer } from "../shared/fault-server.ts";
import {
  type FaultControls,
  type FaultControlsPatch,
  FaultControlsPatchProperties,
  FaultInjector,
  faultControlsFrom,
  faultControlsFromEnv,
  type LatencyDistribution,
} from "../shared/faults.ts";
import { pushBounded, remember } from "../shared/settings.ts";

/**
 * A lending platform for the naive journey of the journey benchmark: asked whether an account
 * can fund an amount, it answers from the account's credit line after its latency (8 s at scale 1,
 * the product brief's figure), failing or refusing as `faults.ts` configures. A funds check only
 * looks: it reserves nothing. See README.md for the API.
 */

export interface LendingPlatformControls extends FaultControls {
  /** What an account without its own credit line may draw, in minor units of any currency. */
  defaultAvailableCreditMinor: string;
  /** The next this many funds checks are declined, whatever the credit. */
  declineNextChecks: number;
}

export type LendingPlatformControlsPatch = FaultControlsPatch &
  Partial<Pick<LendingPlatformControls, "defaultAvailableCreditMinor" | "declineNextChecks">>;

export interface CreditLine {
  accountRef: string;
  currency: string;
  availableCreditMinor: string;
}

export interface FundsCheckRequest {
  accountRef: string;
  amountMinor: string;
  currency: string;
}

export interface FundsCheck extends FundsCheckRequest {
  checkId: string;
  approved: boolean;
  availableCreditMinor: string;
  checkedAt: string;
}

export interface LendingPlatformSimulatorOptions extends Omit<LendingPlatformControlsPatch, "downForMs"> {
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: string;
  /** When set, every call needs it in `x-api-key`. */
  apiKey?: string;
  creditLines?: CreditLine[];
  /** Checks and credit lines kept at most (oldest dropped). */
  rememberedMax?: number;
  random?: () => number;
  clock?: Clock;
  newId?: () => string;
  onError?: (error: unknown) => void;
}

export interface LendingPlatformSimulator {
  url: string;
  close(): Promise<void>;
  controls(patch?: LendingPlatformControlsPatch): LendingPlatformControls;
  setCreditLine(line: CreditLine): void;
  /** The funds checks answered, oldest first. */
  checks(): FundsCheck[];
}

/** The product brief's 8 s. */
export const LENDING_PLATFORM_DEFAULT_LATENCY: LatencyDistribution = { kind: "fixed", ms: 8_000 };

const NAME = "lending-platform-simulator";
const POSITIVE_MINOR = "^[1-9][0-9]{0,17}$";
const NON_NEGATIVE_MINOR = "^(0|[1-9][0-9]{0,17})$";

const FundsCheckSchema = Type.Object(
  {
    accountRef: Type.String({ minLength: 1, maxLength: 100 }),
    amountMinor: Type.String({ pattern: POSITIVE_MINOR }),
    currency: Type.String({ pattern: "^[A-Z]{3}$" }),
  },
  { additionalProperties: false },
);
const CreditLineSchema = Type.Object(
  {
    currency: Type.String({ pattern: "^[A-Z]{3}$" }),
    availableCreditMinor: Type.String({ pattern: NON_NEGATIVE_MINOR }),
  },
  { additionalProperties: false },
);

function checkedCredit(name: string, value: string): string {
  if (!new RegExp(NON_NEGATIVE_MINOR).test(value))
    throw new Error(`${name} must be whole minor units, 0 or more`);
  return value;
}

function checkedDeclines(value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 1_000_000) {
    throw new Error("declineNextChecks must be a whole number from 0 to 1000000");
  }
  return value;
}

class LendingPlatform {
  readonly faults: FaultInjector;
  readonly #lines = new Map<string, CreditLine>();
  readonly #checks: FundsCheck[] = [];
  readonly #rememberedMax: number;
  readonly #clock: Clock;
  readonly #newId: () => string;
  #defaultAvailableCreditMinor: string;
  #declineNextChecks: number;

  constructor(options: LendingPlatformSimulatorOptions) {
    this.#clock = options.clock ?? systemClock;
    this.#newId = options.newId ?? (() => randomUUID().replaceAll("-", ""));
    this.#rememberedMax = options.rememberedMax ?? 100_000;
    this.#defaultAvailableCreditMinor = checkedCredit(
      "defaultAvailableCreditMinor",
      options.defaultAvailableCreditMinor ?? "1000000",
    );
    this.#declineNextChecks = checkedDeclines(options.declineNextChecks ?? 0);
    this.faults = new FaultInjector({
      clock: this.#clock,
      random: options.random ?? Math.random,
      controls: faultControlsFrom(options, LENDING_PLATFORM_DEFAULT_LATENCY),
    });
    for (const line of options.creditLines ?? []) this.setCreditLine(line);
  }

  controls(patch: LendingPlatformControlsPatch = {}): LendingPlatformControls {
    const { defaultAvailableCreditMinor, declineNextChecks, ...faultPatch } = patch;
    const credit = checkedCredit(
      "defaultAvailableCreditMinor",
      defaultAvailableCreditMinor ?? this.#defaultAvailableCreditMinor,
    );
    const declines = checkedDeclines(declineNextChecks ?? this.#declineNextChecks);
    const faults = this.faults.controls(faultPatch);
    this.#defaultAvailableCreditMinor = credit;
    this.#declineNextChecks = declines;
    return { ...faults, defaultAvailableCreditMinor: credit, declineNextChecks: declines };
  }

  setCreditLine(line: CreditLine): void {
    checkedCredit("availableCreditMinor", line.availableCreditMinor);
    remember(this.#lines, line.accountRef, { ...line }, this.#rememberedMax);
  }

  checks(): FundsCheck[] {
    return [...this.#checks];
  }

  check(request: FundsCheckRequest): FundsCheck {
    const line = this.#lines.get(request.accountRef);
    const availableCreditMinor =
      line === undefined
        ? this.#defaultAvailableCreditMinor
        : line.currency === request.currency
          ? line.availableCreditMinor
          : "0";
    let approved = BigInt(request.amountMinor) <= BigInt(availableCreditMinor);
    if (this.#declineNextChecks > 0) {
      this.#declineNextChecks -= 1;
      approved = false;
    }
    const check: FundsCheck = {
      checkId: `lfc_${this.#newId()}`,
      ...request,
      approved,
      availableCreditMinor,
      checkedAt: this.#clock.now().toISOString(),
    };
    pushBounded(this.#checks, check, this.#rememberedMax);
    return check;
  }

  registerApi(api: FastifyInstance): void {
    api.post("/funds-checks", { schema: { body: FundsCheckSchema } }, async (request) =>
      this.check(request.body as FundsCheckRequest),
    );
  }

  registerAdmin(admin: FastifyInstance): void {
    admin.put(
      "/admin/credit-lines/:accountRef",
      {
        schema: {
          params: Type.Object({ accountRef: Type.String({ minLength: 1, maxLength: 100 }) }),
          body: CreditLineSchema,
        },
      },
      async (request) => {
        const { accountRef } = request.params as { accountRef: string };
        const line = { accountRef, ...(request.body as Omit<CreditLine, "accountRef">) };
        this.setCreditLine(line);
        return line;
      },
    );
  }
}

export async function startLendingPlatformSimulator(
  options: LendingPlatformSimulatorOptions = {},
): Promise<LendingPlatformSimulator> {
  const platform = new LendingPlatform(options);
  const onError = options.onError ?? ((error) => console.error("lending-platform simulator:", error));
  const server = await startFaultServer({
    name: NAME,
    port: options.port ?? 0,
    host: options.host ?? "127.0.0.1",
    apiKey: options.apiKey,
    bodyMaxBytes: 65_536,
    faults: platform.faults,
    work: new BackgroundWork(onError),
    onError,
    api: (api) => platform.registerApi(api),
    admin: (admin) => platform.registerAdmin(admin),
    controls: (patch) => platform.controls(patch as LendingPlatformControlsPatch),
    controlsPatchProperties: {
      ...FaultControlsPatchProperties,
      defaultAvailableCreditMinor: Type.Optional(Type.String({ pattern: NON_NEGATIVE_MINOR })),
      declineNextChecks: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
    },
  });
  return {
    url: server.url,
    close: () => server.close(),
    controls: (patch) => platform.controls(patch),
    setCreditLine: (line) => platform.setCreditLine(line),
    checks: () => platform.checks(),
  };
}

// ————— Configuration from the environment —————

export function lendingPlatformOptionsFromEnv(env: NodeJS.ProcessEnv): LendingPlatformSimulatorOptions {
  const { downUntil: _, ...faults } = faultControlsFromEnv(env, "LENDING_", LENDING_PLATFORM_DEFAULT_LATENCY);
  return {
    port: Number(env.LENDING_PORT?.trim() || 4400),
    host: env.LENDING_HOST?.trim() || "127.0.0.1",
    apiKey: env.LENDING_API_KEY || undefined,
    ...faults,
    defaultAvailableCreditMinor: env.LENDING_DEFAULT_CREDIT_MINOR?.trim() || "1000000",
  };
}

/** Starts the lending platform from the environment and prints where it listens. */
export async function startLendingPlatformFromEnv(env: NodeJS.ProcessEnv): Promise<LendingPlatformSimulator> {
  const options = lendingPlatformOptionsFromEnv(env);
  const simulator = await startLendingPlatformSimulator(options);
  console.info(
    `lending platform listening on ${simulator.url} (latency ${JSON.stringify(options.latency)} × ${options.latencyScale})`,
  );
  return simulator;
}

if (import.meta.main) {
  const simulator = await startLendingPlatformFromEnv(process.env);
  const stop = () => void simulator.close().then(() => process.exit(0));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
