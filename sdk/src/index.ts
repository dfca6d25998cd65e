export {
  type ClientEvents,
  type LegacyPaymentBody,
  type LoginResult,
  OmnicoreClient,
  type OmnicoreClientOptions,
  type PayeeBody,
  type ScheduledTransferBody,
  type TransferBody,
} from "./client.ts";
export {
  ApiProblemError,
  isProblem,
  NetworkError,
  PROBLEM_BASE_URI,
  type ProblemDetails,
  problemSlug,
  SessionEndedError,
} from "./errors.ts";
export { Emitter } from "./events.ts";
export type { components, paths } from "./generated/openapi.ts";
export {
  applyItems,
  emptyState,
  highestSeq,
  OfflineState,
  type SyncedState,
  type SyncItem,
  seqOf,
} from "./offline-state.ts";
export {
  type CommandKind,
  type CommandOutcome,
  type FlushResult,
  Outbox,
  type OutboxCommand,
  type ProcessedCommand,
} from "./outbox.ts";
export {
  backoffDelayMs,
  DEFAULT_RETRY_POLICY,
  defaultScheduler,
  isIdempotent,
  isRetryableResponse,
  type RetryPolicy,
  type Scheduler,
} from "./retry.ts";
export { DEFAULT_SSE_LIMITS, type SseEvent, SseLimitError, type SseLimits, SseParser } from "./sse.ts";
export { type KeyValueStorage, MemoryStorage } from "./storage.ts";
export {
  type FollowOptions,
  type StreamHandle,
  StreamRefusedError,
  type StreamStats,
  type StreamStatus,
} from "./stream.ts";
export { isResyncProblem, type SyncPage, type SyncResult } from "./sync.ts";
export {
  MemorySecureStore,
  type SecureStore,
  type SessionEndReason,
  TokenManager,
  type TokensResponse,
} from "./tokens.ts";
