import { join } from "node:path";
import type { MigrationSource } from "../../platform/db/migrations.ts";

/**
 * The public face of sanctions and PEP screening: the service the composition root builds (and
 * onboarding calls through `screenCustomer`), its routes, the list loaders and its event types.
 */
export type { EntryType, ListEntry, ListSource, ParsedList } from "./lists.ts";
export { aliasesCount, LIST_SOURCES } from "./lists.ts";
export type { MatchedField } from "./name-index.ts";
export { normalizeName } from "./names.ts";
export type { OfacFiles } from "./ofac.loader.ts";
export { BUNDLED_OFAC_DIRECTORY, parseOfac, readOfacDirectory } from "./ofac.loader.ts";
export { PepListError, parsePep, readPepFile } from "./pep.loader.ts";
export { registerScreeningRoutes } from "./screening.routes.ts";
export type {
  CustomerScreeningInput,
  CustomerScreeningResult,
  HitDecision,
  LoadListResult,
  ScreeningCompletedEvent,
  ScreeningConfig,
  ScreeningHitDecidedEvent,
  ScreeningHitDto,
  ScreeningHitFoundEvent,
  ScreeningListUpdatedEvent,
  ScreeningMatch,
  ScreeningServiceOptions,
  ScreeningSubject,
} from "./screening.service.ts";
export { ScreeningService } from "./screening.service.ts";

export const migrations: MigrationSource = {
  module: "screening",
  directory: join(import.meta.dirname, "migrations"),
};

export const SCREENING_EVENTS = [
  "screening.completed",
  "screening.hit_found",
  "screening.list_updated",
  "screening.hit_false_positive",
  "screening.hit_confirmed",
] as const;
