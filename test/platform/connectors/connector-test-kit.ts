import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Registry } from "prom-client";
import {
  CONNECTOR_DEFAULTS,
  type ConnectorDefaults,
  ConnectorRegistry,
  type OutboundPolicyConfig,
} from "../../../src/platform/connectors/index.ts";
import { createLogger } from "../../../src/platform/logger.ts";

/** Shared by the connector tests: a local HTTP server that counts what reaches it, and registries. */

export interface TestServer {
  url: string;
  host: string;
  /** Requests that reached the handler, in order. */
  requests: Array<{ method: string; url: string; idempotencyKey: string | undefined; atMs: number }>;
  /** TCP connections accepted, whether or not a request followed. */
  connections(): number;
  close(): Promise<void>;
}

const cleanups: Array<() => Promise<void>> = [];

export async function cleanUp(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
}

/** A server on 127.0.0.1 whose `handler` decides each answer; it is closed by `cleanUp`. */
export async function startServer(
  handler: (request: IncomingMessage, response: ServerResponse, index: number) => void,
): Promise<TestServer> {
  const requests: TestServer["requests"] = [];
  let connections = 0;
  const server = createServer((request, response) => {
    const key = request.headers["idempotency-key"];
    requests.push({
      method: request.method ?? "",
      url: request.url ?? "",
      idempotencyKey: typeof key === "string" ? key : undefined,
      atMs: performance.now(),
    });
    request.resume();
    request.on("end", () => handler(request, response, requests.length - 1));
  });
  server.on("connection", () => {
    connections++;
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  cleanups.push(close);
  return {
    url: `http://127.0.0.1:${port}`,
    host: "127.0.0.1",
    requests,
    connections: () => connections,
    close,
  };
}

/** Answers `status` with a small JSON body. */
export function answer(status: number, body: unknown = {}) {
  return (_request: IncomingMessage, response: ServerResponse) => {
    response.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  };
}

/** Small times, so breaker and retry tests run in milliseconds. */
export const FAST_DEFAULTS: ConnectorDefaults = {
  ...CONNECTOR_DEFAULTS,
  retryBackoffInitialMs: 1,
  retryBackoffMaxMs: 5,
  breakerHalfOpenAfterMs: 50,
};

export function registryFor(
  outbound: Partial<OutboundPolicyConfig> & { allowedHosts: string[] },
  defaults: ConnectorDefaults = FAST_DEFAULTS,
) {
  const metrics = new Registry();
  const connectors = new ConnectorRegistry({
    outbound: { allowPlaintext: false, ...outbound },
    defaults,
    registry: metrics,
    logger: createLogger({ level: "silent" }),
  });
  return { connectors, metrics };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
