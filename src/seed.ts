import type { App } from "./app.ts";
import type { RequestContext } from "./platform/context.ts";
import { AppError } from "./platform/errors.ts";

/** Logins of the demo bank. Public on purpose: this data exists only on a demo instance. */
export const DEMO_PASSWORD = "demo-password-2026";
export const DEMO_CUSTOMERS = [
  { email: "alice@demo.omnicore.local", givenName: "Alice", familyName: "Martin" },
  { email: "bob@demo.omnicore.local", givenName: "Bob", familyName: "Schneider" },
  { email: "carol@demo.omnicore.local", givenName: "Carol", familyName: "Rossi" },
] as const;
export const DEMO_TELLER = { email: "teller@demo.omnicore.local", role: "teller" as const };

export interface DemoLogins {
  customers: Array<{ email: string; password: string; customerId: string; iban: string }>;
  teller: { email: string; password: string };
}

function context(
  name: string,
  actor: RequestContext["actor"],
  channel: RequestContext["channel"],
): RequestContext {
  return { requestId: `seed-${name}`, channel, deviceId: "demo-seed", actor };
}

/**
 * Seeds a small demo bank through the services (never by writing tables directly): customers with
 * a current account each, a teller, opening cash deposits and a few transfers. Returns undefined
 * when the demo data already exists, so a restart with --demo does not seed twice.
 */
export async function seedDemo(app: App): Promise<DemoLogins | undefined> {
  const { identity, ledger, payments } = app.services;
  const system = context("system", { type: "system", id: "seed" }, "system");
  let teller: { id: string };
  try {
    teller = await identity.createStaffUser(system, { ...DEMO_TELLER, password: DEMO_PASSWORD });
  } catch (error) {
    if (error instanceof AppError && error.slug === "email-taken") return undefined;
    throw error;
  }
  const branch = context(
    "teller",
    { type: "staff", id: teller.id, role: "teller", sessionId: "seed" },
    "branch",
  );
  const customers: DemoLogins["customers"] = [];
  for (const [index, person] of DEMO_CUSTOMERS.entries()) {
    const { customerId } = await identity.registerCustomer(
      context("register", { type: "anonymous" }, "web"),
      {
        ...person,
        password: DEMO_PASSWORD,
      },
    );
    const customer = context("customer", { type: "customer", id: customerId, sessionId: "seed" }, "mobile");
    const account = await ledger.openAccount(customer, customerId, { type: "current", currency: "EUR" });
    await ledger.openAccount(customer, customerId, { type: "savings", currency: "EUR" });
    await payments.depositCash(
      branch,
      account.id,
      { amount: { amount: `${(index + 1) * 1000}.00`, currency: "EUR" }, reference: "Opening deposit" },
      `seed-deposit-${index}`,
    );
    customers.push({ email: person.email, password: DEMO_PASSWORD, customerId, iban: account.iban });
  }
  await seedTransfers(app, customers);
  return { customers, teller: { email: DEMO_TELLER.email, password: DEMO_PASSWORD } };
}

async function seedTransfers(app: App, customers: DemoLogins["customers"]): Promise<void> {
  const history = [
    { from: 0, to: 1, amount: "42.50", reference: "Dinner" },
    { from: 1, to: 2, amount: "120.00", reference: "Concert tickets" },
    { from: 2, to: 0, amount: "15.75", reference: "Coffee beans" },
    { from: 0, to: 2, amount: "300.00", reference: "Rent share" },
  ];
  for (const [index, item] of history.entries()) {
    const from = customers[item.from]!;
    const to = customers[item.to]!;
    const [account] = await app.services.ledger.listAccounts(from.customerId);
    // The demo history is booked as the system: the customers approved these payments long ago.
    await app.services.payments.transfer(
      context("transfer", { type: "system", id: "seed" }, "system"),
      from.customerId,
      {
        fromAccountId: account!.id,
        toIban: to.iban,
        amount: { amount: item.amount, currency: "EUR" },
        reference: item.reference,
      },
      `seed-transfer-${index}`,
    );
  }
}
