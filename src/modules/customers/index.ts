import { join } from "node:path";
import type { MigrationSource } from "../../platform/db/migrations.ts";

export { registerCustomerRoutes } from "./customer.routes.ts";
export type {
  CustomerProfile,
  CustomerRegisteredEvent,
  CustomerTierChangedEvent,
  CustomerUpdatedEvent,
  NewCustomer,
  PostalAddress,
  ProfileField,
  ProfilePatch,
} from "./customer.service.ts";
export { CustomerService } from "./customer.service.ts";
export { CUSTOMER_TIERS, type CustomerTier } from "./customer.tables.ts";

export const migrations: MigrationSource = {
  module: "customers",
  directory: join(import.meta.dirname, "migrations"),
};

/** Events this module publishes. */
export const CUSTOMER_EVENTS = ["customer.registered", "customer.updated", "customer.tier_changed"] as const;
