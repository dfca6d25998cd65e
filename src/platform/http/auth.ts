import type { FastifyReply, FastifyRequest } from "fastify";
import { CHANNELS, type Channel, type RequestContext, type StaffRole } from "../context.ts";
import { AppError } from "../errors.ts";
import type { OriginResolver } from "./client-origin.ts";

export type Audience = "customer" | "staff";

export interface AuthenticatedCaller {
  context: Omit<RequestContext, "requestId">;
}

/** Verifies a bearer token for one audience; the identity module provides it. */
export type Authenticator = (token: string, audience: Audience) => Promise<AuthenticatedCaller | undefined>;

declare module "fastify" {
  interface FastifyRequest {
    caller: RequestContext;
  }
}

const DEVICE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The channel and device a request claims; only trusted before a session exists (login). */
export function claimedOrigin(request: FastifyRequest): { channel: Channel; deviceId: string | undefined } {
  const rawChannel = request.headers["x-channel"];
  const rawDevice = request.headers["x-device-id"];
  const channel = rawChannel === undefined ? "web" : String(rawChannel);
  if (!(CHANNELS as readonly string[]).includes(channel) || channel === "system") {
    throw new AppError(
      "validation",
      `X-Channel must be one of ${CHANNELS.filter((c) => c !== "system").join(", ")}`,
    );
  }
  if (rawDevice !== undefined && !DEVICE_ID.test(String(rawDevice))) {
    throw new AppError(
      "validation",
      "X-Device-Id must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':', '-'",
    );
  }
  return { channel: channel as Channel, deviceId: rawDevice === undefined ? undefined : String(rawDevice) };
}

function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header?.startsWith("Bearer ")) return undefined;
  return header.slice("Bearer ".length).trim() || undefined;
}

export interface Guards {
  anonymous: (request: FastifyRequest) => Promise<void>;
  customer: (request: FastifyRequest) => Promise<void>;
  staff: (...roles: StaffRole[]) => (request: FastifyRequest) => Promise<void>;
  /**
   * For a long-lived response (an event stream) of an authenticated request: answers whether its
   * access token is still valid now (not expired, its session not revoked).
   */
  recheck: (request: FastifyRequest) => () => Promise<boolean>;
}

/**
 * preValidation hooks that establish `request.caller`: authentication runs before the body is
 * validated, so an anonymous caller learns nothing about a route's schema (401, not 400). The caller's identity, channel and device come
 * from the verified token (bound to the session at login), never from the body or a header.
 */
export function createGuards(authenticate: Authenticator, resolveOrigin: OriginResolver): Guards {
  const verify = async (request: FastifyRequest, audience: Audience) => {
    const token = bearerToken(request);
    if (!token) throw new AppError("unauthorized", "A bearer access token is required.");
    const caller = await authenticate(token, audience);
    if (!caller) throw new AppError("unauthorized", "The access token is not valid for this API.");
    request.caller = { ...caller.context, requestId: request.id, origin: resolveOrigin(request) };
    return caller;
  };
  return {
    anonymous: async (request) => {
      request.caller = {
        ...claimedOrigin(request),
        requestId: request.id,
        actor: { type: "anonymous" },
        origin: resolveOrigin(request),
      };
    },
    customer: async (request) => {
      await verify(request, "customer");
    },
    staff:
      (...roles) =>
      async (request) => {
        const caller = await verify(request, "staff");
        const actor = caller.context.actor;
        if (actor.type !== "staff" || (roles.length > 0 && !roles.includes(actor.role))) {
          throw new AppError("forbidden", `This action needs one of the roles: ${roles.join(", ")}.`);
        }
      },
    recheck: (request) => {
      const token = bearerToken(request);
      const audience: Audience = request.caller.actor.type === "staff" ? "staff" : "customer";
      return async () => {
        if (!token) return false;
        const caller = await authenticate(token, audience).catch(() => undefined);
        return caller !== undefined;
      };
    },
  };
}

export type PreHandler = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
