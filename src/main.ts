import { parseArgs } from "node:util";
import { type App, allMigrations, buildApp } from "./app.ts";
import { ConfigError, loadConfig } from "./config.ts";
import { parseOfac, readOfacDirectory, readPepFile } from "./modules/screening/index.ts";
import { verifyAuditChain } from "./platform/audit-chain.ts";
import { STAFF_ROLES, type StaffRole, systemContext } from "./platform/context.ts";
import { openDatabase } from "./platform/db/database.ts";
import { migrate } from "./platform/db/migrations.ts";
import { AppError } from "./platform/errors.ts";
import { seedDemo } from "./seed.ts";

const USAGE = `Usage: omnicore <command> [options]

Commands:
  serve [--demo]                              start the HTTP API (what \`npm start\` runs);
                                              --demo seeds a demo bank on first start
  migrate                                     apply pending database migrations and exit
  audit verify                                walk the audit trail's hash chain; exits 1 and
                                              names the first broken link if there is one
  seed --demo                                 seed the demo bank and print its logins
  staff create --email E --password P --role R
                                              create a staff user (roles: ${STAFF_ROLES.join(", ")})
  sanctions load <dir>                        load an OFAC SDN download (sdn.csv, alt.csv, add.csv)
                                              as a new list version; re-screens every customer
  sanctions load-pep <file>                   load a PEP list (CSV: see reference-data/sanctions/README.md)
  reconcile                                   compare the legacy mirror with the legacy core's export;
                                              prints and stores the run, exits 1 when there are breaks

Configuration comes from the environment; see the README.`;

/* Output meant for the operator at the terminal, not for the log stream. */
function say(text: string): void {
  process.stdout.write(`${text}\n`);
}

async function printDemoLogins(app: App): Promise<void> {
  const logins = await seedDemo(app);
  if (!logins) {
    say("Demo data is already there (password of every demo login: see README).");
    return;
  }
  say("Demo bank seeded. Logins (customers on /v1/auth/login, teller on /v1/staff/auth/login):");
  for (const customer of logins.customers)
    say(`  customer ${customer.email}  ${customer.password}  IBAN ${customer.iban}`);
  say(`  teller   ${logins.teller.email}  ${logins.teller.password}`);
}

async function ensureAdmin(app: App): Promise<void> {
  const created = await app.services.identity.ensureInitialAdmin(app.config.admin);
  if (!created) return;
  say(`Created the first admin: ${created.email}`);
  if (created.generatedPassword) {
    say(`  generated password (shown once, change it): ${created.generatedPassword}`);
  }
}

async function serve(demo: boolean): Promise<void> {
  const app = await buildApp({ config: loadConfig() });
  await ensureAdmin(app);
  await app.services.screening.ensureBundledList();
  if (demo) await printDemoLogins(app);
  const address = await app.listen();
  say(`Omnicore listening on ${address} (API reference: ${address}/docs)`);
  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    app.logger.info({ signal }, "shutting down");
    const timer = setTimeout(() => {
      app.logger.error("graceful shutdown timed out; exiting");
      process.exit(1);
    }, app.config.shutdownTimeoutMs);
    await app.close();
    clearTimeout(timer);
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}

async function runMigrations(): Promise<void> {
  const config = loadConfig();
  const database = await openDatabase({
    url: config.database.url,
    dataDir: config.database.dataDir,
    poolSize: 1,
  });
  try {
    const applied = await migrate(database, allMigrations());
    say(applied.length === 0 ? "Nothing to migrate." : `Applied: ${applied.join(", ")}`);
  } finally {
    await database.close();
  }
}

async function verifyAudit(): Promise<void> {
  const config = loadConfig();
  const database = await openDatabase({
    url: config.database.url,
    dataDir: config.database.dataDir,
    poolSize: 1,
  });
  try {
    const report = await verifyAuditChain(database.db);
    if (report.ok) {
      say(`Audit trail intact: ${report.recordsChecked} records, every link verified.`);
      return;
    }
    const broken = report.firstBroken!;
    say(
      `Audit trail BROKEN at chain position ${broken.chainPosition}` +
        `${broken.recordId ? ` (record ${broken.recordId})` : ""}: ${broken.reason}; ` +
        `${report.recordsChecked} records before it verified.`,
    );
    process.exitCode = 1;
  } finally {
    await database.close();
  }
}

/** Commands that use the services without serving HTTP; they still hold the PGlite lock. */
async function withApp(work: (app: App) => Promise<void>): Promise<void> {
  const app = await buildApp({ config: loadConfig() });
  try {
    await work(app);
  } finally {
    await app.close();
  }
}

async function createStaff(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { email: { type: "string" }, password: { type: "string" }, role: { type: "string" } },
  });
  const role = values.role as StaffRole | undefined;
  if (!values.email || !values.password || !role || !STAFF_ROLES.includes(role)) {
    throw new UsageError(`staff create needs --email, --password and --role (${STAFF_ROLES.join(", ")})`);
  }
  await withApp(async (app) => {
    const staff = await app.services.identity.createStaffUser(systemContext("cli"), {
      email: values.email!,
      password: values.password!,
      role,
    });
    say(`Created staff user ${staff.id} (${role})`);
  });
}

/** `sanctions load <dir>` and `sanctions load-pep <file>`: the same content twice is a no-op. */
async function loadSanctionsList(args: string[]): Promise<void> {
  const [subcommand, path] = args;
  if ((subcommand !== "load" && subcommand !== "load-pep") || !path) {
    throw new UsageError("sanctions needs load <dir> or load-pep <file>");
  }
  const list = subcommand === "load" ? parseOfac(readOfacDirectory(path)) : readPepFile(path);
  await withApp(async (app) => {
    const loaded = await app.services.screening.loadList(systemContext("cli"), list);
    if (!loaded.created) {
      say(`Unchanged: ${list.source} list version ${loaded.listVersionId} has the same content.`);
      return;
    }
    say(
      `Loaded ${list.source} list version ${loaded.listVersionId}: ${loaded.entriesCount} entries, ` +
        `${loaded.aliasesCount} aliases; re-screened ${loaded.rescreened.subjectsCount} customers, ` +
        `${loaded.rescreened.newHitsCount} new hits.`,
    );
  });
}

/** `reconcile`: one reconciliation run of the legacy mirror against the core, printed for the operator. */
async function reconcileLegacy(): Promise<void> {
  await withApp(async (app) => {
    if (!app.services.legacy.enabled) throw new UsageError("reconcile needs OMNICORE_LEGACY_URL");
    const report = await app.services.legacy.reconcile();
    if (!report) {
      say("Another node is running a reconciliation right now; try again shortly.");
      process.exitCode = 1;
      return;
    }
    say(
      `Reconciliation ${report.runId} ${report.status} as of ${report.asOf ?? "-"} (seq ${report.lastSeq ?? "-"}): ` +
        `${report.accountsMatched} accounts and ${report.postingsMatched} postings matched, ${report.breaksCount} breaks.`,
    );
    if (report.detail) say(`  ${report.detail}`);
    for (const found of report.breaks) {
      say(
        `  ${found.kind} ${found.subject} ${found.legacyAccountId}${found.postingId ? ` ${found.postingId}` : ""}` +
          ` mirror=${found.mirrorMinor ?? "-"} core=${found.coreMinor ?? "-"}`,
      );
    }
    if (report.status !== "completed" || report.breaksCount > 0) process.exitCode = 1;
  });
}

class UsageError extends Error {}

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const flags = parseArgs({ args: rest, options: { demo: { type: "boolean" } }, strict: false }).values;
  switch (command) {
    case "serve":
    case undefined:
      return serve(Boolean(flags.demo));
    case "migrate":
      return runMigrations();
    case "seed":
      if (!flags.demo) throw new UsageError("seed needs --demo");
      return withApp(printDemoLogins);
    case "audit":
      if (rest[0] !== "verify") throw new UsageError("unknown audit command");
      return verifyAudit();
    case "staff":
      if (rest[0] !== "create") throw new UsageError("unknown staff command");
      return createStaff(rest.slice(1));
    case "sanctions":
      return loadSanctionsList(rest);
    case "reconcile":
      return reconcileLegacy();
    default:
      throw new UsageError(`unknown command ${command}`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof UsageError) {
    console.error(`${error.message}\n\n${USAGE}`);
  } else if (error instanceof ConfigError || error instanceof AppError) {
    console.error(error.message);
  } else {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  }
  process.exit(1);
});
