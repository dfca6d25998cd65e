import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";

/** One request a simulator sent to the bank's webhook endpoint, as received. */
export interface Callback {
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * The bank's webhook endpoint for simulator tests: records every callback and answers `statuses`
 * in turn, then 200. `path` is only part of the URL (every path is answered), so that what the
 * simulator calls looks like the real endpoint.
 */
export async function startCallbackReceiver(path: string, statuses: number[] = []) {
  const received: Callback[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      received.push({ headers: request.headers, body: Buffer.concat(chunks).toString("utf8") });
      response.writeHead(statuses.shift() ?? 200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return { url: `http://127.0.0.1:${port}${path}`, received, close };
}
