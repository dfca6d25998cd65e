import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ApiProblemError, type CommandOutcome, OmnicoreClient } from "../../sdk/src/index.ts";
import { FileSecureStore, FileStorage } from "../../sdk/src/node/index.ts";

/**
 * A tiny banking CLI on @omnicore/sdk that behaves like a phone app: everything it shows comes
 * from the offline store, payments go through the durable outbox, and `--offline` plays airplane
 * mode (every request fails as if there were no network).
 */

const USAGE = `usage: node examples/mobile-cli/main.ts [--server URL] [--data DIR] [--offline] <command>
  login <email> <password>       sign in (the refresh token is kept in DIR, mode 0600)
  sync                           fetch changes (GET /v1/sync, or the accounts when the server has no sync)
  balances                       show balances from the offline store (no network)
  pay <fromAccountId> <toIban> <amount> [reference]   queue a EUR payment and try to deliver it
  watch [count]                  sync, then print changes live from the event stream (stop after count)
  outbox                         list queued payments
  flush                          deliver queued payments, in order, each exactly once
  logout`;

export interface CliIo {
  print(line: string): void;
}

const airplaneMode: typeof fetch = async () => {
  throw new TypeError("fetch failed: airplane mode");
};

function describeOutcome(outcome: CommandOutcome): string {
  const key = outcome.command.idempotencyKey;
  if (outcome.kind === "accepted") return `payment ${key} accepted (${outcome.status})`;
  if (outcome.kind === "rejected") return `payment ${key} rejected: ${outcome.reason}`;
  return `payment ${key} needs step-up: approve it in the app, then flush again`;
}

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      server: { type: "string", default: "http://127.0.0.1:3000" },
      data: { type: "string", default: ".omnicore-cli" },
      offline: { type: "boolean", default: false },
    },
  });
  const [command, ...rest] = positionals;
  const client = await OmnicoreClient.create({
    baseUrl: values.server,
    storage: new FileStorage(values.data),
    secureStore: new FileSecureStore(values.data),
    ...(values.offline ? { fetch: airplaneMode, retry: { attemptsMax: 1 } } : {}),
  });
  client.events.on("command-outcome", (outcome) => io.print(describeOutcome(outcome)));
  client.events.on("session-ended", ({ reason }) => io.print(`signed out (${reason})`));
  switch (command) {
    case "login": {
      const result = await client.login(rest[0] ?? "", rest[1] ?? "");
      io.print(
        result.kind === "signed-in" ? "signed in" : `second factor needed (challenge ${result.challengeId})`,
      );
      return result.kind === "signed-in" ? 0 : 2;
    }
    case "sync":
      return sync(client, io);
    case "balances": {
      const accounts = client.state.list<{
        id: string;
        balances: { available: { amount: string; currency: string } };
      }>("account");
      if (accounts.length === 0) io.print("no accounts stored yet: run sync while online");
      for (const account of accounts) {
        io.print(
          `${account.id}  ${account.balances.available.amount} ${account.balances.available.currency}`,
        );
      }
      return 0;
    }
    case "pay": {
      const [fromAccountId, toIban, amount, reference] = rest;
      if (!fromAccountId || !toIban || !amount) return usage(io);
      const queued = await client.transfer({
        fromAccountId,
        toIban,
        amount: { amount, currency: "EUR" },
        ...(reference ? { reference } : {}),
      });
      io.print(`payment ${queued.idempotencyKey} queued`);
      return report(client, io);
    }
    case "watch":
      return watch(client, io, rest[0] === undefined ? undefined : Number(rest[0]));
    case "outbox":
      for (const queued of await client.outbox.list()) {
        io.print(`${queued.idempotencyKey}  ${queued.kind}  ${queued.state}  ${JSON.stringify(queued.body)}`);
      }
      return 0;
    case "flush":
      return report(client, io);
    case "logout":
      await client.logout();
      return 0;
    default:
      return usage(io);
  }
}

async function sync(client: OmnicoreClient, io: CliIo): Promise<number> {
  try {
    const result = await client.sync();
    io.print(`synced ${result.items} changes${result.resynced ? " (from a fresh snapshot)" : ""}`);
  } catch (error) {
    // A server without /v1/sync (or one whose sync is switched off): the accounts alone will do.
    if (!(error instanceof ApiProblemError && error.problem.status === 404)) throw error;
    await client.refreshAccounts();
    io.print("synced accounts");
  }
  return 0;
}

/** Follows GET /v1/events/stream; every change lands in the offline store as it is printed. */
async function watch(client: OmnicoreClient, io: CliIo, count: number | undefined): Promise<number> {
  await sync(client, io);
  let seen = 0;
  const follower = client.follow();
  client.events.on("stream", (status) => {
    if (status.status === "open") io.print("following the event stream");
    if (status.status === "reconnecting") io.print(`stream cut; reconnecting (attempt ${status.attempt})`);
    if (status.status === "resyncing") io.print("stream too far behind; syncing from a snapshot");
  });
  client.events.on("change", (item) => {
    io.print(`change ${item.seq} ${item.kind} ${item.op} ${item.data.id ?? ""}`);
    if (count !== undefined && ++seen >= count) void follower.close();
  });
  const stop = () => void follower.close();
  process.once("SIGINT", stop);
  await follower.done;
  process.off("SIGINT", stop);
  return 0;
}

async function report(client: OmnicoreClient, io: CliIo): Promise<number> {
  const result = await client.flush();
  if (result.interrupted)
    io.print(`offline: ${result.remaining} payment(s) stay queued; run flush when online`);
  else io.print(`${result.delivered} payment(s) delivered, ${result.remaining} waiting`);
  return 0;
}

function usage(io: CliIo): number {
  io.print(USAGE);
  return 64;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  runCli(process.argv.slice(2), { print: (line) => console.info(line) }).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      console.error((error as Error).message);
      process.exitCode = 1;
    },
  );
}
