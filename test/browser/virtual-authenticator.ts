/**
 * A real-browser passkey harness: Debian's Chromium driven by playwright-core, with a CDP virtual
 * authenticator standing in for the platform authenticator, and @simplewebauthn/browser running the
 * WebAuthn ceremonies in a page served at the relying party's origin. The Node test makes the API
 * calls; this harness only turns options JSON into credential JSON the way a real browser does.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type Browser, type CDPSession, chromium, type Page } from "playwright-core";

const DEFAULT_CHROMIUM_PATH = "/usr/bin/chromium";

// Without these, Chromium on a closed network stalls on start-up (component updates, QUIC, sync).
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

// The UMD bundle is the only build a plain <script> can load; it defines globalThis.SimpleWebAuthnBrowser.
const SIMPLEWEBAUTHN_BUNDLE_PATH = fileURLToPath(
  new URL("../dist/bundle/index.umd.min.js", import.meta.resolve("@simplewebauthn/browser")),
);

const PAGE_HTML = "<!doctype html><html><head><title>passkey harness</title></head><body></body></html>";

/** The Chromium executable, or undefined when it is not installed. */
export function chromiumPath(): string | undefined {
  const candidate = process.env.OMNICORE_CHROMIUM_PATH || DEFAULT_CHROMIUM_PATH;
  return existsSync(candidate) ? candidate : undefined;
}

/** CI must never skip the browser test; a developer machine without chromium may. */
export const browserTestsEnabled: boolean = chromiumPath() !== undefined || process.env.CI === "true";

export interface PasskeyBrowser {
  /** Runs navigator.credentials.create through @simplewebauthn/browser's startRegistration in a page whose origin is `origin`. */
  register(optionsJSON: unknown): Promise<Record<string, unknown>>;
  /** startAuthentication; works for discoverable (passkey-only, allowCredentials empty) logins. */
  authenticate(optionsJSON: unknown): Promise<Record<string, unknown>>;
  /**
   * The credentials the virtual authenticator holds (WebAuthn.getCredentials), for assertions.
   * credentialId is base64url, so it compares equal to the `id` of a registration response.
   */
  credentials(): Promise<Array<{ credentialId: string; isResidentCredential: boolean; signCount: number }>>;
  close(): Promise<void>;
}

/** What the UMD bundle puts on the page's global object (the part this harness calls). */
interface SimpleWebAuthnGlobal {
  SimpleWebAuthnBrowser: {
    startRegistration(options: { optionsJSON: unknown }): Promise<Record<string, unknown>>;
    startAuthentication(options: { optionsJSON: unknown }): Promise<Record<string, unknown>>;
  };
}

/** origin e.g. "http://localhost:3999" — WebAuthn treats http://localhost as a secure context. */
export async function openPasskeyBrowser(options: { origin: string }): Promise<PasskeyBrowser> {
  const browser = await launchChromium();
  try {
    const page = await openOriginPage(browser, options.origin);
    const { cdp, authenticatorId } = await addVirtualAuthenticator(page);
    return passkeyBrowser(browser, page, cdp, authenticatorId);
  } catch (error) {
    await browser.close();
    throw error;
  }
}

function launchChromium(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (executablePath === undefined) {
    // Reached only when CI=true forced the test on: fail loudly rather than pass by skipping.
    throw new Error(
      `Chromium not found at ${process.env.OMNICORE_CHROMIUM_PATH || DEFAULT_CHROMIUM_PATH}: ` +
        "install Debian's chromium (apt-get install chromium) or set OMNICORE_CHROMIUM_PATH",
    );
  }
  return chromium.launch({ executablePath, args: CHROMIUM_ARGS });
}

/** A page at `origin` served by the route handler itself, so no HTTP server is needed for the page. */
async function openOriginPage(browser: Browser, origin: string): Promise<Page> {
  const page = await browser.newPage();
  await page.route(`${origin}/**`, (route) =>
    route.fulfill({ status: 200, contentType: "text/html", body: PAGE_HTML }),
  );
  await page.goto(`${origin}/`);
  await page.addScriptTag({ path: SIMPLEWEBAUTHN_BUNDLE_PATH });
  return page;
}

async function addVirtualAuthenticator(page: Page): Promise<{ cdp: CDPSession; authenticatorId: string }> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      // Answers the user-presence prompt itself, so no one has to touch a (virtual) key.
      automaticPresenceSimulation: true,
    },
  });
  return { cdp, authenticatorId };
}

function passkeyBrowser(
  browser: Browser,
  page: Page,
  cdp: CDPSession,
  authenticatorId: string,
): PasskeyBrowser {
  return {
    register: (optionsJSON) =>
      page.evaluate(
        (json) =>
          (globalThis as unknown as SimpleWebAuthnGlobal).SimpleWebAuthnBrowser.startRegistration({
            optionsJSON: json,
          }),
        optionsJSON,
      ),
    authenticate: (optionsJSON) =>
      page.evaluate(
        (json) =>
          (globalThis as unknown as SimpleWebAuthnGlobal).SimpleWebAuthnBrowser.startAuthentication({
            optionsJSON: json,
          }),
        optionsJSON,
      ),
    credentials: async () => {
      const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
      return credentials.map((credential) => ({
        // CDP reports standard base64; WebAuthn responses and servers use base64url.
        credentialId: Buffer.from(credential.credentialId, "base64").toString("base64url"),
        isResidentCredential: credential.isResidentCredential,
        signCount: credential.signCount,
      }));
    },
    close: () => browser.close(),
  };
}
