import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "pino";
import { CacheUnavailableError } from "../cache/cache.ts";
import { AppError, PROBLEM_BASE_URI, PROBLEM_TYPES, type ProblemSlug } from "../errors.ts";

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  requestId: string;
  [extension: string]: unknown;
}

export function problemBody(
  request: FastifyRequest,
  slug: ProblemSlug,
  detail: string,
  extensions: Record<string, unknown> = {},
): ProblemBody {
  const { status, title } = PROBLEM_TYPES[slug];
  return {
    ...extensions,
    type: PROBLEM_BASE_URI + slug,
    title,
    status,
    detail,
    instance: request.url.split("?")[0] ?? request.url,
    requestId: request.id,
  };
}

export function sendProblem(reply: FastifyReply, body: ProblemBody): FastifyReply {
  return reply.code(body.status).type("application/problem+json").send(body);
}

interface ValidationIssue {
  pointer: string;
  message: string;
}

function validationIssues(error: FastifyError): ValidationIssue[] {
  return (error.validation ?? []).slice(0, 20).map((issue) => {
    const params = issue.params as { additionalProperty?: string; missingProperty?: string };
    const path = `${error.validationContext ?? "body"}${issue.instancePath}`;
    if (params.additionalProperty) {
      return { pointer: `${path}/${params.additionalProperty}`, message: "is not an accepted field" };
    }
    if (params.missingProperty) {
      return { pointer: `${path}/${params.missingProperty}`, message: "is required" };
    }
    return { pointer: path, message: issue.message ?? "is not valid" };
  });
}

/** Maps every error that leaves a handler to problem+json; nothing leaks a stack trace. */
export function errorHandler(logger: Logger) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof AppError) {
      return sendProblem(reply, problemBody(request, error.slug, error.message, error.extensions));
    }
    if (error.validation) {
      const errors = validationIssues(error);
      const detail = errors.map((issue) => `${issue.pointer} ${issue.message}`).join("; ");
      return sendProblem(reply, problemBody(request, "validation", detail, { errors }));
    }
    if (error instanceof CacheUnavailableError || error.cause instanceof CacheUnavailableError) {
      logger.warn({ requestId: request.id }, "cache unavailable");
      return sendProblem(
        reply,
        problemBody(request, "service-unavailable", "A dependency is unavailable; retry shortly."),
      );
    }
    const mapped = mapFrameworkError(error);
    if (mapped) return sendProblem(reply, problemBody(request, mapped.slug, mapped.detail));
    logger.error({ err: error, requestId: request.id }, "unhandled error");
    return sendProblem(
      reply,
      problemBody(request, "internal", "An unexpected error occurred; quote the requestId."),
    );
  };
}

function mapFrameworkError(error: FastifyError): { slug: ProblemSlug; detail: string } | undefined {
  switch (error.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return { slug: "payload-too-large", detail: error.message };
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return { slug: "validation", detail: error.message };
    default:
      break;
  }
  if (error.statusCode === 429) return { slug: "rate-limited", detail: "Too many requests; retry later." };
  if (error.statusCode === 400 || error instanceof SyntaxError) {
    return { slug: "validation", detail: "The request body is not valid JSON." };
  }
  return undefined;
}
