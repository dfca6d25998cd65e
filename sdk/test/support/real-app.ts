import { createTestApp, type TestApp } from "../../../test/helpers/test-app.ts";
import { login, PASSWORD, register, uniqueEmail } from "../../../test/identity.helpers.ts";
import {
  type AccountDto,
  deposit,
  eur,
  newCustomer,
  newStaff,
  openAccount,
} from "../../../test/payments/payments.helpers.ts";

/** The real app listening on a random port, with a funded payer the SDK signs in as, and a payee. */
export interface RealBank {
  app: TestApp;
  url: string;
  host: string;
  port: number;
  /** `token` is a separate session of the payer's, for checks that go straight to the server. */
  payer: { email: string; password: string; token: string; account: AccountDto };
  payee: { token: string; account: AccountDto };
}

export async function startRealBank(env: Record<string, string> = {}): Promise<RealBank> {
  const app = await createTestApp({
    env: { HOST: "127.0.0.1", OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "10000", ...env },
  });
  const url = await app.listen();
  const address = new URL(url);
  const email = uniqueEmail("sdk");
  await register(app, email);
  const payerSession = await login(app, email);
  const account = await openAccount(app, payerSession.accessToken);
  const teller = await newStaff(app, "teller");
  await deposit(app, teller.token, account.id, eur("1000.00"));
  const payee = await newCustomer(app);
  const payeeAccount = await openAccount(app, payee.token);
  return {
    app,
    url,
    host: address.hostname,
    port: Number(address.port),
    payer: { email, password: PASSWORD, token: payerSession.accessToken, account },
    payee: { token: payee.token, account: payeeAccount },
  };
}

/** Fast, deterministic retry timing: backoff is computed but not waited for in real time. */
export const instantScheduler = {
  sleep: () => new Promise<void>((resolve) => setImmediate(resolve)),
  random: () => 0.5,
};
