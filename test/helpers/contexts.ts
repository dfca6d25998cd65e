import type { RequestContext } from "../../src/platform/context.ts";

/**
 * Callers for tests that drive the services directly (below HTTP): what the auth guards would
 * put on `request.caller` for a customer on the mobile app or a teller at a branch.
 */
export function customerContext(customerId: string): RequestContext {
  return {
    requestId: "test",
    channel: "mobile",
    deviceId: "test-phone",
    actor: { type: "customer", id: customerId, sessionId: "ses_test" },
  };
}

export function tellerContext(staffId = "stf_test"): RequestContext {
  return {
    requestId: "test",
    channel: "branch",
    deviceId: undefined,
    actor: { type: "staff", id: staffId, role: "teller", sessionId: "ses_test" },
  };
}
