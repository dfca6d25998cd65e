/**
 * Categories, channels and the rules of preferences. Pure: the service stores what these decide.
 */

export const CATEGORIES = ["security", "payments", "account", "onboarding", "marketing"] as const;
export type Category = (typeof CATEGORIES)[number];

export const CHANNELS = ["push", "email", "sms"] as const;
export type NotificationChannel = (typeof CHANNELS)[number];

/** What a customer who never chose gets: SMS costs money and is kept for security alerts. */
const DEFAULTS: Record<Category, Record<NotificationChannel, boolean>> = {
  security: { push: true, email: true, sms: true },
  payments: { push: true, email: true, sms: false },
  account: { push: true, email: true, sms: false },
  onboarding: { push: true, email: true, sms: false },
  marketing: { push: false, email: false, sms: false },
};

export type PreferenceMatrix = Record<Category, Record<NotificationChannel, boolean>>;

export interface PreferenceChange {
  category: Category;
  channel: NotificationChannel;
  enabled: boolean;
}

export function isCategory(value: unknown): value is Category {
  return typeof value === "string" && (CATEGORIES as readonly string[]).includes(value);
}

/** The defaults overlaid with what the customer stored. */
export function preferenceMatrix(stored: ReadonlyArray<PreferenceChange>): PreferenceMatrix {
  const matrix = structuredClone(DEFAULTS);
  for (const row of stored) {
    if (isCategory(row.category) && (CHANNELS as readonly string[]).includes(row.channel)) {
      matrix[row.category][row.channel] = row.enabled;
    }
  }
  return matrix;
}

/**
 * Security alerts cannot be switched off: a sign-in from a new device must reach the customer
 * somehow. At least one channel of the security category stays on.
 */
export function keepsSecurityAlerts(matrix: PreferenceMatrix): boolean {
  return CHANNELS.some((channel) => matrix.security[channel]);
}
