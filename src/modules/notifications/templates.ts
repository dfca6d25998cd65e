import type { Category } from "./preferences.ts";

/**
 * Message templates per code and language. A template names the few parameters it needs; only
 * those are kept with a notification (ids, codes, amounts — no names, no IBANs, no addresses).
 * Parameters are HTML-escaped when rendered, so a value that came from another system can
 * never inject markup into an e-mail or the app's notification centre.
 */

export const LANGUAGES = ["en", "de"] as const;
export type Language = (typeof LANGUAGES)[number];

interface Template {
  category: Category;
  params: readonly string[];
  text: Record<Language, { title: string; body: string }>;
}

export const TEMPLATES = {
  welcome: {
    category: "onboarding",
    params: [],
    text: {
      en: { title: "Welcome to Omnicore", body: "Your account is open and ready to use." },
      de: { title: "Willkommen bei Omnicore", body: "Ihr Konto ist eröffnet und kann genutzt werden." },
    },
  },
  onboarding_rejected: {
    category: "onboarding",
    params: [],
    text: {
      en: { title: "Your application", body: "We are sorry: we cannot open an account for you." },
      de: { title: "Ihr Antrag", body: "Es tut uns leid: Wir können kein Konto für Sie eröffnen." },
    },
  },
  fraud_confirmed: {
    category: "security",
    params: [],
    text: {
      en: {
        title: "We stopped a fraudulent payment",
        body: "We blocked your accounts and signed you out everywhere. Please call us.",
      },
      de: {
        title: "Wir haben eine betrügerische Zahlung gestoppt",
        body: "Wir haben Ihre Konten gesperrt und Sie überall abgemeldet. Bitte rufen Sie uns an.",
      },
    },
  },
  legacy_payment_rejected: {
    category: "payments",
    params: ["paymentId", "reasonCode"],
    text: {
      en: { title: "Payment rejected", body: "Your payment {paymentId} was rejected ({reasonCode})." },
      de: { title: "Zahlung abgelehnt", body: "Ihre Zahlung {paymentId} wurde abgelehnt ({reasonCode})." },
    },
  },
  payment_received: {
    category: "payments",
    params: ["amount", "currency"],
    text: {
      en: { title: "Money received", body: "You received {amount} {currency}." },
      de: { title: "Geld erhalten", body: "Sie haben {amount} {currency} erhalten." },
    },
  },
  new_device: {
    category: "security",
    params: ["country"],
    text: {
      en: {
        title: "New sign-in",
        body: "Your account was used on a new device ({country}). Not you? Call us.",
      },
      de: {
        title: "Neue Anmeldung",
        body: "Ihr Konto wurde auf einem neuen Gerät verwendet ({country}). Nicht Sie? Rufen Sie uns an.",
      },
    },
  },
  password_changed: {
    category: "security",
    params: [],
    text: {
      en: { title: "Password changed", body: "Your password was changed. Not you? Call us." },
      de: { title: "Passwort geändert", body: "Ihr Passwort wurde geändert. Nicht Sie? Rufen Sie uns an." },
    },
  },
  email_changed: {
    category: "security",
    params: [],
    text: {
      en: { title: "E-mail address changed", body: "Your e-mail address was changed. Not you? Call us." },
      de: {
        title: "E-Mail-Adresse geändert",
        body: "Ihre E-Mail-Adresse wurde geändert. Nicht Sie? Rufen Sie uns an.",
      },
    },
  },
  factor_locked: {
    category: "security",
    params: [],
    text: {
      en: { title: "Sign-in locked", body: "Too many failed attempts: signing in is locked for a while." },
      de: {
        title: "Anmeldung gesperrt",
        body: "Zu viele Fehlversuche: Die Anmeldung ist für eine Weile gesperrt.",
      },
    },
  },
  // Offers: the bank's own catalogue only (no free text from staff, so nothing to inject or mistype).
  offer_savings_boost: {
    category: "marketing",
    params: [],
    text: {
      en: {
        title: "A better rate for your savings",
        body: "Open a savings account this month for a boosted rate.",
      },
      de: {
        title: "Ein besserer Zins für Ihr Erspartes",
        body: "Eröffnen Sie diesen Monat ein Sparkonto zum Bonuszins.",
      },
    },
  },
  offer_premium_card: {
    category: "marketing",
    params: [],
    text: {
      en: {
        title: "Your premium card is waiting",
        body: "Travel insurance and no foreign fees: ask us for it.",
      },
      de: {
        title: "Ihre Premiumkarte wartet",
        body: "Reiseversicherung und keine Auslandsgebühren: Fragen Sie uns danach.",
      },
    },
  },
} as const satisfies Record<string, Template>;

/** Offer codes staff may send (`POST /v1/staff/customers/{id}/offers`). */
export const OFFER_CODES = ["savings_boost", "premium_card"] as const;
export type OfferCode = (typeof OFFER_CODES)[number];

export type TemplateCode = keyof typeof TEMPLATES;

export function isTemplateCode(value: unknown): value is TemplateCode {
  return typeof value === "string" && Object.hasOwn(TEMPLATES, value);
}

/** `de-DE`, `de` → de; anything unknown → en. */
export function languageOf(preferred: string | null | undefined): Language {
  const primary = (preferred ?? "").toLowerCase().split(/[-_]/)[0];
  return (LANGUAGES as readonly string[]).includes(primary ?? "") ? (primary as Language) : "en";
}

export function escapeHtml(value: string): string {
  return value
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

/** Only the parameters the template names, as bounded strings. */
export function templateParams(code: TemplateCode, data: Record<string, unknown>): Record<string, string> {
  const params: Record<string, string> = {};
  for (const name of TEMPLATES[code].params as readonly string[]) {
    const value = data[name];
    if (typeof value === "string" || typeof value === "number") params[name] = String(value).slice(0, 100);
  }
  return params;
}

export interface RenderedMessage {
  title: string;
  body: string;
}

export function render(
  code: TemplateCode,
  language: Language,
  params: Record<string, string>,
): RenderedMessage {
  const text = TEMPLATES[code].text[language];
  const fill = (template: string) =>
    template.replaceAll(/\{(\w+)\}/g, (_match, name: string) => escapeHtml(params[name] ?? "—"));
  return { title: fill(text.title), body: fill(text.body) };
}
