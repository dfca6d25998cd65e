import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "./config.ts";
import * as aml from "./modules/aml/index.ts";
import * as customers from "./modules/customers/index.ts";
import { FraudCaseMetrics, FraudCaseService, registerFraudCaseRoutes } from "./modules/fraud/cases/index.ts";
import * as fraud from "./modules/fraud/index.ts";
import * as identity from "./modules/identity/index.ts";
import * as ledger from "./modules/ledger/index.ts";
import * as legacy from "./modules/legacy/index.ts";
import * as notifications from "./modules/notifications/index.ts";
import * as onboarding from "./modules/onboarding/index.ts";
import * as payments from "./modules/payments/index.ts";
import * as screening from "./modules/screening/index.ts";
import * as sync from "./modules/sync/index.ts";
import { AuditTrail } from "./platform/audit.ts";
import { type Cache, MemoryCache } from "./platform/cache/cache.ts";
import { RedisCache } from "./platform/cache/redis-cache.ts";
import { type Clock, systemClock } from "./platform/clock.ts";
import { ConnectorRegistry } from "./platform/connectors/index.ts";
import { type DatabaseHandle, openDatabase, ping } from "./platform/db/database.ts";
import { loadMigrations, type Migration, migrate, pendingMigrations } from "./platform/db/migrations.ts";
import type { ServiceDependencies } from "./platform/dependencies.ts";
import type { EventBus } from "./platform/events/bus.ts";
import { deadLetterWriter, EventDispatcher } from "./platform/events/dispatcher.ts";
import { eventFactory } from "./platform/events/event.ts";
import { MemoryEventBus } from "./platform/events/memory-bus.ts";
import { NatsEventBus } from "./platform/events/nats-bus.ts";
import { outboxLag } from "./platform/events/outbox.ts";
import { OutboxRelay } from "./platform/events/relay.ts";
import type { FraudCaseOpener, FraudGate, LoginRiskGate } from "./platform/fraud.ts";
import { createGuards } from "./platform/http/auth.ts";
import { createOriginResolver } from "./platform/http/client-origin.ts";
import { registerOpsRoutes } from "./platform/http/ops.routes.ts";
import { createHttpServer, type HttpServer } from "./platform/http/server.ts";
import { IdempotencyStore, InFlightKeys } from "./platform/idempotency.ts";
import { type IdGenerator, uuidV7Ids } from "./platform/ids.ts";
import { createLogger, type Logger } from "./platform/logger.ts";
import { createMetrics } from "./platform/metrics.ts";
import type { StepUpGate } from "./platform/step-up.ts";
import { WorkflowRunner } from "./platform/workflow.ts";

export interface AppOptions {
  config: Config;
  clock?: Clock;
  ids?: IdGenerator;
  logger?: Logger;
}

export interface App {
  config: Config;
  clock: Clock;
  http: HttpServer;
  database: DatabaseHandle;
  cache: Cache;
  bus: EventBus;
  relay: OutboxRelay;
  dispatcher: EventDispatcher;
  logger: Logger;
  services: {
    customers: customers.CustomerService;
    identity: identity.IdentityService;
    ledger: ledger.LedgerService;
    payments: payments.PaymentService;
    payees: payments.PayeeService;
    scheduledTransfers: payments.ScheduledTransferService;
    fraudCases: FraudCaseService;
    fraud: fraud.FraudService;
    screening: screening.ScreeningService;
    onboarding: onboarding.OnboardingService;
    workflows: WorkflowRunner;
    aml: aml.AmlService;
    complianceCases: aml.ComplianceCaseService;
    legacy: legacy.LegacyService;
    sync: sync.SyncService;
    notifications: notifications.NotificationService;
    notificationSender: notifications.DeliverySender;
  };
  /** Starts the relay and the event consumers; `listen` calls it, tests may call it alone. */
  start(): Promise<void>;
  listen(): Promise<string>;
  close(): Promise<void>;
}

/** Expired Idempotency-Keys are removed this often, in bounded batches, by every node. */
const MAINTENANCE_INTERVAL_MS = 60_000;

/** Platform tables first, then modules in the order their tables are referenced. */
export function allMigrations(): Migration[] {
  return loadMigrations([
    { module: "platform", directory: join(import.meta.dirname, "platform", "migrations") },
    customers.migrations,
    identity.migrations,
    ledger.migrations,
    payments.migrations,
    // One source for the whole fraud module: the engine (0001) and the cases (0002) share the folder.
    fraud.migrations,
    screening.migrations,
    onboarding.migrations,
    aml.migrations,
    legacy.migrations,
    sync.migrations,
    notifications.migrations,
  ]);
}

function requireBuilt<T>(service: T | undefined): T {
  if (!service) throw new Error("used before the composition root finished");
  return service;
}

function packageVersion(): string {
  const text = readFileSync(join(import.meta.dirname, "..", "package.json"), "utf8");
  return (JSON.parse(text) as { version: string }).version;
}

async function openEventBus(config: Config, deadLetter: ReturnType<typeof deadLetterWriter>, logger: Logger) {
  if (!config.nats.url)
    return new MemoryEventBus({ attemptsMax: config.outbox.handlerAttemptsMax, deadLetter });
  const bus = new NatsEventBus({
    url: config.nats.url,
    stream: config.nats.stream,
    subjectPrefix: config.nats.subjectPrefix,
    attemptsMax: config.outbox.handlerAttemptsMax,
    deadLetter,
    logger,
  });
  await bus.connect();
  return bus;
}

/**
 * The one composition root: config → infrastructure → modules → HTTP. Everything is built here
 * and passed in explicitly; no module reaches for a global.
 */
export async function buildApp(options: AppOptions): Promise<App> {
  const { config } = options;
  const clock = options.clock ?? systemClock;
  const ids = options.ids ?? uuidV7Ids;
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const database = await openDatabase({
    url: config.database.url,
    dataDir: config.database.dataDir,
    poolSize: config.database.poolSize,
  });
  const migrations = allMigrations();
  try {
    const applied = await migrate(database, migrations);
    if (applied.length > 0) logger.info({ applied }, "migrations applied");
  } catch (error) {
    await database.close();
    throw error;
  }
  const { db } = database;
  const cache: Cache = config.redisUrl
    ? new RedisCache({ url: config.redisUrl, prefix: config.cachePrefix })
    : new MemoryCache();
  const bus = await openEventBus(config, deadLetterWriter(db, logger), logger);
  const dispatcher = new EventDispatcher({ db, bus });
  const relay = new OutboxRelay({
    db,
    databaseKind: database.kind,
    bus,
    clock,
    logger,
    batchMax: config.outbox.batchMax,
    pollIntervalMs: config.outbox.pollIntervalMs,
  });
  const events = eventFactory({ ids, clock });
  const audit = new AuditTrail({ ids, clock });
  const idempotency = new IdempotencyStore({ clock, retentionS: config.idempotencyRetentionS });
  const inFlight = new InFlightKeys();
  const common: ServiceDependencies = { db, ids, clock, events, audit, logger };

  // Customers need the step-up gate that identity (built next, on top of customers) provides.
  let identityService: identity.IdentityService | undefined;
  const stepUp: StepUpGate = {
    appliesTo: (context) => requireBuilt(identityService).stepUp.appliesTo(context),
    require: (...args) => requireBuilt(identityService).stepUp.require(...args),
    authorizeTransfer: (...args) => requireBuilt(identityService).stepUp.authorizeTransfer(...args),
  };
  const customerService = new customers.CustomerService({ ...common, stepUp });
  // Identity asks fraud about every customer sign-in; fraud is built later and bound below.
  let loginRiskGate: LoginRiskGate | undefined;
  identityService = new identity.IdentityService({
    ...common,
    cache,
    customers: customerService,
    auth: config.auth,
    loginRisk: () => loginRiskGate,
  });
  await identityService.init();
  const ledgerService = new ledger.LedgerService({
    ...common,
    idempotency,
    inFlight,
    iban: config.iban,
    ledger: config.ledger,
  });
  await ledgerService.init();
  // Payments ask fraud for decisions and open its cases; fraud resolves held payments through
  // payments. Both are built below; these are bound once they exist.
  let fraudGate: FraudGate | undefined;
  let fraudCases: FraudCaseOpener | undefined;
  const metrics = createMetrics({ outboxLag: () => outboxLag(db, clock.now()) });
  // Outbound connectors (payment rail, KYC provider): one policy each (timeout, retry, breaker,
  // bulkhead), the outbound allow-list, their metrics on the app's registry and a /ready entry.
  const connectors = new ConnectorRegistry({
    outbound: config.outbound,
    defaults: config.connectors,
    registry: metrics.registry,
    logger,
  });
  const paymentService = new payments.PaymentService({
    ...common,
    ledger: ledgerService,
    idempotency,
    inFlight,
    transfers: config.transfers,
    databaseConnections: database.connections,
    stepUp,
    customerTiers: (tx, ids) => customerService.tiers(tx, ids),
    fraud: () => fraudGate,
    cases: () => requireBuilt(fraudCases),
    customerName: async (customerId) => {
      const customer = await customerService.get(customerId);
      return customer ? `${customer.givenName} ${customer.familyName}` : undefined;
    },
    iban: config.iban,
    rail: config.rail,
    connectors,
  });

  const payeeService = new payments.PayeeService({
    ...common,
    ledger: ledgerService,
    customers: customerService,
  });

  const scheduledService = new payments.ScheduledTransferService({
    ...common,
    payments: paymentService,
    ledger: ledgerService,
    stepUp,
    leaseS: config.scheduler.leaseS,
  });

  // The fraud decision engine: payments ask it through `fraudGate`; its profile consumers are
  // subscribed by init(), before start().
  const fraudService = new fraud.FraudService({
    ...common,
    cache,
    dispatcher,
    config: config.fraud,
    metrics: new fraud.FraudMetrics(metrics.registry),
  });
  await fraudService.init();
  // Off means payments skip the gate entirely (no decision stored), not an "allow" per payment.
  fraudGate = config.fraud.enabled ? fraudService : undefined;
  loginRiskGate = fraudGate ? fraudService : undefined;
  // Investigations of held payments: payments open cases through `fraudCases` (bound here), and
  // the cases resolve held payments through payments' HeldPayments port.
  const fraudCaseService = new FraudCaseService({
    ...common,
    heldPayments: paymentService.held,
    identity: identityService,
    ledger: ledgerService,
    customers: customerService,
    payments: new payments.PaymentHistory({ db }),
    payees: payeeService,
    engine: fraudService,
    stepUp,
    metrics: new FraudCaseMetrics(metrics.registry),
    selfReleaseMaxScore: config.fraudCases.selfReleaseMaxScore,
  });
  fraudCases = fraudCaseService;
  // Sanctions and PEP screening. The bundled OFAC snapshot is loaded on a new installation by
  // `serve` (or by the first screening); onboarding screens through screeningService.screenCustomer.
  const screeningService = new screening.ScreeningService({ ...common, config: config.screening });
  // Onboarding: applications, screening and risk rating on submission, the KYC provider, the
  // analysts' review, and activation as a workflow that any node resumes after a crash.
  const workflows = new WorkflowRunner({ db, ids, clock });
  let listeningUrl: string | undefined;
  const onboardingService = new onboarding.OnboardingService({
    ...common,
    config: config.onboarding,
    workflows,
    kyc: onboarding.createKycConnector(config.kyc, { clock, connectors }),
    callbackUrl: () =>
      config.onboarding.kycCallbackUrl ??
      (listeningUrl ? `${listeningUrl}/v1/onboarding/kyc/callbacks` : undefined),
    screening: {
      async screenApplicant(context, subject) {
        const result = await screeningService.screenCustomer(undefined, context, subject);
        return {
          screeningId: result.screeningId,
          status: result.status,
          hits: result.hits.length,
          pep: result.pep,
        };
      },
    },
    customers: customerService,
    accounts: {
      openAccount: (context, customerId, input, key) =>
        ledgerService.openAccount(context, customerId, input, key),
    },
  });
  // AML transaction monitoring: its consumer evaluates the rules on every money event as it is
  // delivered (subscribed by init(), before start()); alerts open compliance cases, a queue of
  // their own whose context reads the same ports as the fraud cases and whose freeze is the ledger's.
  const amlMetrics = new aml.AmlMetrics(metrics.registry);
  const amlService = new aml.AmlService({ ...common, dispatcher, config: config.aml, metrics: amlMetrics });
  await amlService.init();
  const complianceCaseService = new aml.ComplianceCaseService({
    ...common,
    customers: customerService,
    identity: identityService,
    payments: new payments.PaymentHistory({ db }),
    payees: payeeService,
    ledger: ledgerService,
    metrics: amlMetrics,
  });
  // Legacy-mastered accounts: the mirror fed by the legacy core's change feed, payments decided
  // against it and posted to the core through its own outbox, and reconciliation with the core.
  const legacyService = new legacy.LegacyService({
    ...common,
    config: config.legacy,
    ledger: ledgerService,
    idempotency,
    inFlight,
    iban: config.iban,
    connectors,
  });
  // Notifications: the consumer of the events that notify (subscribed by init(), before start()),
  // the notification centre, preferences and push tokens, and the sender of queued deliveries.
  const notificationProviders = notifications.createProviders({
    ...config.notifications,
    connectors,
  });
  const customerContact = async (customerId: string) => {
    const customer = await customerService.get(customerId);
    return customer
      ? { email: customer.email, phone: customer.phone, preferredLanguage: customer.preferredLanguage }
      : undefined;
  };
  const notificationService = new notifications.NotificationService({
    ...common,
    dispatcher,
    configuredChannels: new Set(Object.keys(notificationProviders) as notifications.NotificationChannel[]),
    accountOwner: async (tx, iban) => (await ledgerService.findByIban(iban, tx))?.ownerCustomerId,
    contact: customerContact,
    pageMax: config.notifications.pageMax,
  });
  await notificationService.init();
  const notificationSender = new notifications.DeliverySender({
    ...common,
    repository: notificationService.repository,
    providers: notificationProviders,
    contact: customerContact,
    attemptsMax: config.notifications.attemptsMax,
    retryBackoffMaxMs: config.notifications.retryBackoffMaxMs,
    leaseS: config.notifications.leaseS,
    batchMax: config.notifications.sendBatchMax,
  });
  // Delta sync and the real-time stream: a change log fed by events (subscribed by init(), before
  // start()), its snapshots read through the other modules' public faces.
  const syncService = new sync.SyncService({
    ...common,
    dispatcher,
    bus,
    idempotency,
    config: config.sync,
    sources: sync.syncSources({
      ledger: ledgerService,
      payments: paymentService,
      history: new payments.PaymentHistory({ db }),
      payees: payeeService,
      legacy: legacyService,
      notifications: notificationService,
    }),
  });
  await syncService.init();
  const http = await createHttpServer({
    logger,
    metrics,
    compressThresholdBytes: config.sync.compressThresholdBytes,
    bodyLimitBytes: config.http.bodyLimitBytes,
    edge: config.edge,
    version: packageVersion(),
  });
  const guards = createGuards(identityService.authenticate, createOriginResolver(config.edge));
  let shuttingDown = false;
  registerOpsRoutes(http, {
    metrics,
    isShuttingDown: () => shuttingDown,
    checks: {
      database: () => ping(db),
      migrations: async () => {
        const pending = await pendingMigrations(db, migrations);
        if (pending.length > 0) throw new Error(`pending: ${pending.join(", ")}`);
      },
      cache: () => cache.ping(),
      eventBus: () => bus.ping(),
      ...connectors.readinessChecks(),
    },
  });
  await identity.registerIdentityRoutes(http, {
    identity: identityService,
    guards,
    cache,
    rateLimitPerMinute: config.rateLimit.authPerMinute,
    rateLimitPerAccountPerMinute: config.rateLimit.authPerAccountPerMinute,
  });
  customers.registerCustomerRoutes(http, { customers: customerService, guards });
  ledger.registerAccountRoutes(http, { ledger: ledgerService, guards });
  payments.registerPaymentRoutes(http, { payments: paymentService, guards });
  payments.registerPayeeRoutes(http, { payees: payeeService, guards });
  payments.registerScheduledTransferRoutes(http, { scheduled: scheduledService, guards });
  payments.registerRailRoutes(http, { rail: paymentService.rail });
  registerFraudCaseRoutes(http, { cases: fraudCaseService, guards });
  fraud.registerFraudRoutes(http, { fraud: fraudService, guards });
  screening.registerScreeningRoutes(http, { screening: screeningService, guards });
  onboarding.registerOnboardingRoutes(http, { onboarding: onboardingService, guards });
  aml.registerAmlRoutes(http, { aml: amlService, cases: complianceCaseService, guards });
  legacy.registerLegacyRoutes(http, { legacy: legacyService, guards });
  sync.registerSyncRoutes(http, { sync: syncService, guards });
  notifications.registerNotificationRoutes(http, { notifications: notificationService, guards });

  let started = false;
  let maintenance: NodeJS.Timeout | undefined;
  let scheduler: NodeJS.Timeout | undefined;
  let schedulerRun: Promise<unknown> = Promise.resolve();
  let railSender: NodeJS.Timeout | undefined;
  let railRun: Promise<unknown> = Promise.resolve();
  let notificationTimer: NodeJS.Timeout | undefined;
  let notificationRun: Promise<unknown> = Promise.resolve();
  let onboardingWorker: NodeJS.Timeout | undefined;
  let onboardingRun: Promise<unknown> = Promise.resolve();
  const legacyTimers: NodeJS.Timeout[] = [];
  const legacyRuns: Promise<unknown>[] = [];
  const app: App = {
    config,
    clock,
    http,
    database,
    cache,
    bus,
    relay,
    dispatcher,
    logger,
    services: {
      customers: customerService,
      identity: identityService,
      ledger: ledgerService,
      payments: paymentService,
      payees: payeeService,
      scheduledTransfers: scheduledService,
      fraudCases: fraudCaseService,
      fraud: fraudService,
      screening: screeningService,
      onboarding: onboardingService,
      workflows,
      aml: amlService,
      complianceCases: complianceCaseService,
      legacy: legacyService,
      sync: syncService,
      notifications: notificationService,
      notificationSender,
    },
    async start() {
      if (started) return;
      started = true;
      await bus.start();
      relay.start();
      maintenance = setInterval(() => {
        idempotency
          .prune(db)
          .catch((error) => logger.warn({ err: error }, "pruning idempotency keys failed"));
        identityService
          .prune()
          .catch((error) => logger.warn({ err: error }, "pruning identity challenges failed"));
        syncService
          .prune()
          .catch((error) => logger.warn({ err: error }, "pruning the sync change log failed"));
      }, MAINTENANCE_INTERVAL_MS);
      maintenance.unref();
      if (config.scheduler.intervalMs > 0) {
        scheduler = setInterval(() => {
          // One pass at a time per node; a pass that outlasts the interval is not doubled.
          schedulerRun = schedulerRun.then(() =>
            scheduledService
              .runDue()
              .catch((error) => logger.warn({ err: error }, "running scheduled transfers failed")),
          );
        }, config.scheduler.intervalMs);
        scheduler.unref();
      }
      if (paymentService.rail.enabled && config.rail.senderIntervalMs > 0) {
        railSender = setInterval(() => {
          railRun = railRun.then(() =>
            paymentService.rail
              .sendDue()
              .catch((error) => logger.warn({ err: error }, "sending to the payment rail failed")),
          );
        }, config.rail.senderIntervalMs);
        railSender.unref();
      }
      if (config.onboarding.workerIntervalMs > 0) {
        onboardingWorker = setInterval(() => {
          // Workflows left half-way (a crash, an outage) and KYC results whose webhook never came.
          onboardingRun = onboardingRun.then(() =>
            Promise.all([
              workflows.runDue().catch((error) => logger.warn({ err: error }, "resuming workflows failed")),
              onboardingService.pollKyc().catch((error) => logger.warn({ err: error }, "polling KYC failed")),
            ]),
          );
        }, config.onboarding.workerIntervalMs);
        onboardingWorker.unref();
      }
      if (notificationSender.enabled && config.notifications.senderIntervalMs > 0) {
        notificationTimer = setInterval(() => {
          notificationRun = notificationRun.then(() =>
            notificationSender
              .sendDue()
              .catch((error) => logger.warn({ err: error }, "sending notifications failed")),
          );
        }, config.notifications.senderIntervalMs);
        notificationTimer.unref();
      }
      if (legacyService.enabled) {
        // Each job runs one pass at a time per node; the leases and skip locked share work between nodes.
        const jobs: Array<[number, string, () => Promise<unknown>]> = [
          [
            config.legacy.feedIntervalMs,
            "reading the legacy change feed failed",
            () => legacyService.ingest(),
          ],
          [
            config.legacy.senderIntervalMs,
            "posting to the legacy core failed",
            () => legacyService.sendDue(),
          ],
          [
            config.legacy.reconcileIntervalS * 1000,
            "legacy reconciliation failed",
            () => legacyService.reconcile(),
          ],
        ];
        for (const [intervalMs, failure, job] of jobs) {
          if (intervalMs <= 0) continue;
          const index = legacyRuns.push(Promise.resolve()) - 1;
          const timer = setInterval(() => {
            legacyRuns[index] = legacyRuns[index]!.then(() =>
              job().catch((error) => logger.warn({ err: error }, failure)),
            );
          }, intervalMs);
          timer.unref();
          legacyTimers.push(timer);
        }
      }
    },
    async listen() {
      await app.start();
      listeningUrl = await http.listen({ host: config.http.host, port: config.http.port });
      return listeningUrl;
    },
    async close() {
      shuttingDown = true;
      // Order matters: stop taking requests and finish in-flight ones, drain queued transfers,
      // publish what committed, then let go of the bus, the cache and the database.
      if (scheduler) clearInterval(scheduler);
      if (railSender) clearInterval(railSender);
      if (onboardingWorker) clearInterval(onboardingWorker);
      for (const timer of legacyTimers) clearInterval(timer);
      if (notificationTimer) clearInterval(notificationTimer);
      // Open event streams end first: HTTP close waits for every open connection.
      await syncService.close();
      await http.close();
      // A scheduled run in progress books through the payment service: let it finish first.
      await schedulerRun;
      await railRun;
      await onboardingRun;
      await Promise.all(legacyRuns);
      await notificationRun;
      await paymentService.close();
      if (maintenance) clearInterval(maintenance);
      // Consumers stop before the relay's last flush, or their outbox rows would wait for a restart.
      await bus.stopDelivery();
      await relay.stop();
      await bus.close();
      await cache.close();
      await database.close();
    },
  };
  return app;
}
