import net from "node:net";

/**
 * A TCP proxy between the SDK and a server that behaves like a bad mobile network: it adds
 * latency, cuts connections in the middle of a response, and partitions (drops every connection)
 * until healed. Faults are counted, not timed, so tests never depend on the wall clock.
 */
export interface FlakyProxy {
  url: string;
  /** Delay before each chunk is forwarded, in both directions. */
  latencyMs: number;
  /**
   * The next `count` connections that answer are cut after `afterBytes` more bytes reached the
   * client; with `path`, only connections whose latest request is for a path starting with it (a
   * long-lived event stream can be cut in the middle while other requests pass).
   */
  cutResponses(count: number, afterBytes: number, options?: { path?: string }): void;
  /** Drops every open connection and refuses new ones until `heal`. */
  partition(): void;
  heal(): void;
  readonly cutsDone: number;
  close(): Promise<void>;
}

export async function startFlakyProxy(
  target: { host: string; port: number },
  latencyMs = 0,
): Promise<FlakyProxy> {
  const sockets = new Set<net.Socket>();
  let partitioned = false;
  let cutsLeft = 0;
  let cutAfterBytes = 0;
  let cutPath: string | undefined;
  let cutsDone = 0;

  const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  const server = net.createServer((client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => undefined);
    if (partitioned) {
      client.destroy();
      return;
    }
    const upstream = net.connect(target.port, target.host);
    sockets.add(upstream);
    upstream.on("close", () => {
      sockets.delete(upstream);
      client.destroy();
    });
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.destroy());
    // Chunks are forwarded in order through a promise chain per direction, each after the latency.
    let toServer: Promise<unknown> = Promise.resolve();
    let toClient: Promise<unknown> = Promise.resolve();
    let cutBudget: number | undefined;
    let requestPath: string | undefined;
    client.on("data", (chunk: Buffer) => {
      const requestLine = /^[A-Z]+ (\S+) HTTP\/1\.1\r\n/.exec(chunk.subarray(0, 2048).toString("latin1"));
      if (requestLine) requestPath = requestLine[1];
      toServer = toServer.then(async () => {
        if (proxy.latencyMs > 0) await delay(proxy.latencyMs);
        if (!upstream.destroyed) upstream.write(chunk);
      });
    });
    upstream.on("data", (chunk) => {
      toClient = toClient.then(async () => {
        if (proxy.latencyMs > 0) await delay(proxy.latencyMs);
        if (client.destroyed) return;
        if (cutBudget === undefined && cutsLeft > 0 && (!cutPath || requestPath?.startsWith(cutPath))) {
          cutsLeft--;
          cutBudget = cutAfterBytes;
        }
        if (cutBudget !== undefined) {
          const part = chunk.subarray(0, cutBudget);
          cutBudget -= part.length;
          if (part.length > 0) client.write(part);
          if (cutBudget <= 0 || part.length < chunk.length) {
            cutsDone++;
            cutBudget = undefined;
            client.destroy();
            upstream.destroy();
          }
          return;
        }
        client.write(chunk);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address() as net.AddressInfo;

  const proxy: FlakyProxy = {
    url: `http://127.0.0.1:${address.port}`,
    latencyMs,
    cutResponses(count, afterBytes, options = {}) {
      cutsLeft = count;
      cutAfterBytes = afterBytes;
      cutPath = options.path;
    },
    partition() {
      partitioned = true;
      for (const socket of sockets) socket.destroy();
    },
    heal() {
      partitioned = false;
    },
    get cutsDone() {
      return cutsDone;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}
