import type { App } from "../../src/app.ts";
import { bearer } from "../identity.helpers.ts";

/** A back-office request with a staff member's access token; `payload` only when given. */
export function staffRequest(app: App, token: string, method: "GET" | "POST", url: string, payload?: object) {
  return app.http.inject({
    method,
    url,
    headers: bearer(token),
    ...(payload === undefined ? {} : { payload }),
  });
}
