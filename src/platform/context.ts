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

export interface GeoPoint {
  latitude: number;
  longitude: number;
}

/**
 * Where a request came from: the client IP (through trusted proxies only) and the location the
 * trusted edge reported. Personal data: kept in security records, never written to logs.
 */
export interface ClientOrigin {
  ip: string;
  /** ISO 3166-1 alpha-2, from the trusted edge's header. */
  country?: string | undefined;
  location?: GeoPoint | undefined;
}

export interface RequestContext {
  requestId: string;
  channel: Channel;
  deviceId: string | undefined;
  actor: Actor;
  /** Set by the HTTP layer; absent for system work. */
  origin?: ClientOrigin | undefined;
  /** The customer a staff member is acting for, recorded in every event and audit entry. */
  onBehalfOf?: string | undefined;
}

export function systemContext(name: string, requestId = `sys-${name}`): RequestContext {
  return { requestId, channel: "system", deviceId: undefined, actor: { type: "system", id: name } };
}

export function actorId(actor: Actor): string | undefined {
  return actor.type === "anonymous" ? undefined : actor.id;
}
