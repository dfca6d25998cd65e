/**
 * Who is acting, from where. Built by the HTTP layer from the verified token and the request
 * headers (never from the body), and passed explicitly into every service call that records an
 * event or an audit entry.
 */
export const CHANNELS = ["mobile", "web", "branch", "contact_centre", "open_banking", "system"] as const;
export type Channel = (typeof CHANNELS)[number];

export type StaffRole = "admin" | "teller" | "agent" | "fraud_investigator" | "compliance_analyst";
export const STAFF_ROLES: readonly StaffRole[] = [
  "admin",
  "teller",
  "agent",
  "fraud_investigator",
  "compliance_analyst",
];

export type Actor =
  | { type: "customer"; id: string; sessionId: string }
  | { type: "staff"; id: string; sessionId: string; role: StaffRole }
  | { type: "anonymous" }
  | { type: "system"; id: string };

export interface RequestContext {
  requestId: string;
  channel: Channel;
  deviceId: string | undefined;
  actor: Actor;
}

export function systemContext(name: string, requestId = `sys-${name}`): RequestContext {
  return { requestId, channel: "system", deviceId: undefined, actor: { type: "system", id: name } };
}

export function actorId(actor: Actor): string | undefined {
  return actor.type === "anonymous" ? undefined : actor.id;
}
