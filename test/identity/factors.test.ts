import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  assertPasswordAcceptable,
  isCommonPassword,
  PASSWORD_LENGTH_MAX,
  PASSWORD_MIN_SINGLE_FACTOR,
  PASSWORD_MIN_WITH_MFA,
  type PasswordContext,
  passwordProblem,
} from "../../src/modules/identity/password-policy.ts";
import {
  hashRecoveryCode,
  looksLikeRecoveryCode,
  newRecoveryCodes,
  normalizeRecoveryCode,
  RECOVERY_CODE_COUNT,
} from "../../src/modules/identity/recovery-codes.ts";
import {
  newTotpSecret,
  TOTP_PERIOD_S,
  totpCode,
  totpStep,
  totpUri,
  verifyTotp,
} from "../../src/modules/identity/totp.ts";
import { AppError } from "../../src/platform/errors.ts";

/** Pure building blocks of the second factors and the password policy: no database, no real clock. */

const ALONE: PasswordContext = { mfaEnabled: false };
const WITH_MFA: PasswordContext = { mfaEnabled: true };
const LENGTH_REASON = /at (least|most) \d+ characters/;
const COMMON_REASON = /commonly used or breached/;
const TRIVIAL_REASON = /repeated character or a simple sequence/;
const CONTEXT_REASON = /your name or the first part of your e-mail address/;

describe("password policy (NIST SP 800-63B rev. 4)", () => {
  it("keeps the published limits", () => {
    expect([PASSWORD_MIN_SINGLE_FACTOR, PASSWORD_MIN_WITH_MFA, PASSWORD_LENGTH_MAX]).toEqual([15, 8, 256]);
  });

  it("needs 15 characters for a password that stands alone and 8 with a second factor", () => {
    expect(passwordProblem("tulip harbor 94", ALONE)).toBeUndefined();
    expect(passwordProblem("tulip harbor 9", ALONE)).toMatch(/at least 15 characters/);
    expect(passwordProblem("tulip 94", WITH_MFA)).toBeUndefined();
    expect(passwordProblem("tulip 9", WITH_MFA)).toMatch(/at least 8 characters/);
    expect(passwordProblem("tulip 94", ALONE)).toMatch(/at least 15 characters/);
  });

  it("accepts up to 256 characters and refuses more", () => {
    expect(passwordProblem("ab".repeat(128), ALONE)).toBeUndefined();
    expect(passwordProblem(`${"ab".repeat(128)}c`, ALONE)).toMatch(/at most 256 characters/);
  });

  it("counts Unicode code points, not UTF-16 units", () => {
    const emoji = ["🌷", "🌊", "🍀", "🚲", "🎻", "🦉", "🌋", "🧭", "🍋", "🪁", "🎲", "🛶", "🌵", "🐙", "🎈"];
    expect(emoji.join("")).toHaveLength(30);
    expect(passwordProblem(emoji.join(""), ALONE)).toBeUndefined();
    expect(passwordProblem(emoji.slice(1).join(""), ALONE)).toMatch(LENGTH_REASON);
    expect(passwordProblem("🌷🌊".repeat(128), ALONE)).toBeUndefined();
  });

  it("counts after NFKC normalisation", () => {
    // "ﬁ" (one ligature code point) becomes "fi": 14 typed code points, 15 after normalising.
    expect(passwordProblem("ﬁsh harbor 942", ALONE)).toBeUndefined();
    // e + combining acute accent becomes é: 15 typed code points, 13 after normalising.
    expect(passwordProblem("re\u0301sume\u0301 harbor", ALONE)).toMatch(LENGTH_REASON);
  });

  it("has no composition rules: all printable characters and spaces are fine", () => {
    expect(passwordProblem("all lower case words", ALONE)).toBeUndefined();
    expect(passwordProblem("    spaces  only  between   ", ALONE)).toBeUndefined();
    expect(passwordProblem("~!@#$%^&*()_+{}|:<>?", ALONE)).toBeUndefined();
    expect(passwordProblem("Grüße aus Köln, 日本語 ok", ALONE)).toBeUndefined();
  });

  it("refuses passwords from the common and breached list, whatever their case or width", () => {
    expect(passwordProblem("password", WITH_MFA)).toMatch(COMMON_REASON);
    expect(passwordProblem("PassWord", WITH_MFA)).toMatch(COMMON_REASON);
    // Full-width letters normalise (NFKC) to plain ASCII "password".
    expect(passwordProblem("ｐａｓｓｗｏｒｄ", WITH_MFA)).toMatch(COMMON_REASON);
    expect(passwordProblem("passwordpassword", ALONE)).toMatch(COMMON_REASON);
    expect(passwordProblem("1qaz2wsx3edc4rfv", ALONE)).toMatch(COMMON_REASON);
  });

  it("tells common passwords from others", () => {
    expect(isCommonPassword("123456")).toBe(true);
    expect(isCommonPassword("QWERTY")).toBe(true);
    expect(isCommonPassword("iloveyou")).toBe(true);
    expect(isCommonPassword("glacier umbrella quietly orbits 7")).toBe(false);
    expect(isCommonPassword("tulip harbor 94")).toBe(false);
  });

  it("refuses one character repeated", () => {
    expect(passwordProblem("zzzzzzzzzzzzzzzz", ALONE)).toMatch(TRIVIAL_REASON);
    expect(passwordProblem("ZzZzZzZzZzZzZzZz", ALONE)).toMatch(TRIVIAL_REASON);
    expect(passwordProblem("🌷".repeat(15), ALONE)).toMatch(TRIVIAL_REASON);
    expect(passwordProblem("                ", ALONE)).toMatch(TRIVIAL_REASON);
  });

  it("refuses simple sequences, forwards, backwards and across 9-0", () => {
    expect(passwordProblem("abcdefghijklmnop", ALONE)).toMatch(TRIVIAL_REASON);
    expect(passwordProblem("PONMLKJIHGFEDCBA", ALONE)).toMatch(TRIVIAL_REASON);
    expect(passwordProblem("123456789012345", ALONE)).toMatch(TRIVIAL_REASON);
    expect(passwordProblem("543210987654321", ALONE)).toMatch(TRIVIAL_REASON);
    expect(passwordProblem("23456789", WITH_MFA)).toMatch(TRIVIAL_REASON);
    expect(passwordProblem("lmnopqrs", WITH_MFA)).toMatch(TRIVIAL_REASON);
    // Every second letter is not a simple sequence.
    expect(passwordProblem("acegikmoqsuwyac", ALONE)).toBeUndefined();
  });

  it("refuses the e-mail's local part and names of 4 or more characters, in any case", () => {
    const keeper = { mfaEnabled: false, email: "harbor.keeper@example.com" };
    expect(passwordProblem("the HARBOR.KEEPER sails 7", keeper)).toMatch(CONTEXT_REASON);
    expect(passwordProblem("harbor keeper sails on 7", keeper)).toBeUndefined();
    const ada = { mfaEnabled: false, givenName: "Ada", familyName: "Lovelace" };
    expect(passwordProblem("LoveLace sails at dawn 7", ada)).toMatch(CONTEXT_REASON);
    // "Ada" is too short to refuse: it sits inside too many unrelated words.
    expect(passwordProblem("ada sails at dawn 77", ada)).toBeUndefined();
    const grace = { mfaEnabled: true, givenName: "Grace", familyName: undefined, email: undefined };
    expect(passwordProblem("amazing GRACE 7", grace)).toMatch(CONTEXT_REASON);
    expect(passwordProblem("amazing GRACE 7", WITH_MFA)).toBeUndefined();
  });

  it("throws a password-rejected problem with the reason", () => {
    expect(() => assertPasswordAcceptable("tulip harbor 94", ALONE)).not.toThrow();
    const error = catchError(() => assertPasswordAcceptable("password", WITH_MFA));
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ slug: "password-rejected", status: 422 });
    expect((error as AppError).message).toMatch(COMMON_REASON);
  });

  it("judges length by code points, for any mix of characters (property)", () => {
    // NFKC-stable characters, so the number of array elements is the number of code points.
    const char = fc.constantFrom("a", "Z", "7", " ", "!", "é", "ß", "日", "€", "🌷");
    fc.assert(
      fc.property(fc.array(char, { minLength: 0, maxLength: 300 }), fc.boolean(), (chars, mfaEnabled) => {
        const minimum = mfaEnabled ? PASSWORD_MIN_WITH_MFA : PASSWORD_MIN_SINGLE_FACTOR;
        const tooShortOrLong = chars.length < minimum || chars.length > PASSWORD_LENGTH_MAX;
        const problem = passwordProblem(chars.join(""), { mfaEnabled });
        expect(LENGTH_REASON.test(problem ?? "")).toBe(tooShortOrLong);
      }),
    );
  });

  it("answers only from a fixed set of reasons, never echoing the password (property)", () => {
    const reasons = new Set([
      passwordProblem("short", ALONE),
      passwordProblem("short", WITH_MFA),
      passwordProblem("x".repeat(300), ALONE),
      passwordProblem("password", WITH_MFA),
      passwordProblem("abcdefgh", WITH_MFA),
      passwordProblem("amazing GRACE 7", { mfaEnabled: true, givenName: "Grace" }),
      undefined,
    ]);
    expect(reasons.size).toBe(7);
    const context = { mfaEnabled: true, email: "grace.hopper@example.com", givenName: "Grace" };
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 40 }), (password) => {
        expect(reasons).toContain(passwordProblem(password, context));
      }),
    );
  });
});

/** RFC 6238 appendix B: the SHA-1 seed "12345678901234567890" (ASCII) in base32. */
const RFC_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
/** A step of the RFC's test times; `middleOf` avoids both edges of it. */
const STEP = 37_037_036;

function middleOf(step: number): Date {
  return new Date((step * TOTP_PERIOD_S + TOTP_PERIOD_S / 2) * 1000);
}

function codeOf(step: number, secret = RFC_SECRET): Promise<string> {
  return totpCode(secret, new Date(step * TOTP_PERIOD_S * 1000));
}

describe("TOTP (RFC 6238: SHA-1, 6 digits, 30 s)", () => {
  it.each([
    [59, "287082"],
    [1_111_111_109, "081804"],
    [1_111_111_111, "050471"],
    [1_234_567_890, "005924"],
    [2_000_000_000, "279037"],
    [20_000_000_000, "353130"],
  ])("matches the RFC 6238 SHA-1 test vector at %i s", async (epochSeconds, code) => {
    expect(await totpCode(RFC_SECRET, new Date(epochSeconds * 1000))).toBe(code);
  });

  it("numbers 30-second steps from the Unix epoch", () => {
    expect(TOTP_PERIOD_S).toBe(30);
    expect(totpStep(new Date(0))).toBe(0);
    expect(totpStep(new Date(29_999))).toBe(0);
    expect(totpStep(new Date(30_000))).toBe(1);
    expect(totpStep(new Date(59_000))).toBe(1);
    expect(totpStep(new Date(1_111_111_109_000))).toBe(STEP);
  });

  it("accepts the current code and reports its step", async () => {
    const check = { secret: RFC_SECRET, at: new Date(1_111_111_109_000), lastUsedStep: null };
    expect(await verifyTotp({ ...check, code: "081804" })).toEqual({ ok: true, step: STEP });
    const firstSecond = new Date(STEP * TOTP_PERIOD_S * 1000);
    expect(await verifyTotp({ ...check, code: "081804", at: firstSecond })).toEqual({ ok: true, step: STEP });
  });

  it("accepts one step of drift either side and refuses two", async () => {
    const at = middleOf(STEP);
    const verifyStep = async (step: number) =>
      verifyTotp({ secret: RFC_SECRET, code: await codeOf(step), at, lastUsedStep: null });
    expect(await verifyStep(STEP - 1)).toEqual({ ok: true, step: STEP - 1 });
    expect(await verifyStep(STEP + 1)).toEqual({ ok: true, step: STEP + 1 });
    expect(await verifyStep(STEP - 2)).toEqual({ ok: false, reason: "invalid" });
    expect(await verifyStep(STEP + 2)).toEqual({ ok: false, reason: "invalid" });
  });

  it("accepts each code once: a step at or before the last used one is a replay", async () => {
    const at = middleOf(STEP);
    const check = { secret: RFC_SECRET, at };
    const current = await codeOf(STEP);
    expect(await verifyTotp({ ...check, code: current, lastUsedStep: STEP })).toEqual({
      ok: false,
      reason: "replayed",
    });
    expect(await verifyTotp({ ...check, code: current, lastUsedStep: STEP - 1 })).toEqual({
      ok: true,
      step: STEP,
    });
    const previous = await codeOf(STEP - 1);
    expect(await verifyTotp({ ...check, code: previous, lastUsedStep: STEP - 1 })).toMatchObject({
      reason: "replayed",
    });
    const next = await codeOf(STEP + 1);
    expect(await verifyTotp({ ...check, code: next, lastUsedStep: STEP })).toEqual({
      ok: true,
      step: STEP + 1,
    });
    expect(await verifyTotp({ ...check, code: next, lastUsedStep: STEP + 1 })).toMatchObject({
      reason: "replayed",
    });
  });

  it("calls a used code a replay even when the last used step is ahead of the clock", async () => {
    const check = { secret: RFC_SECRET, code: await codeOf(STEP), at: middleOf(STEP) };
    expect(await verifyTotp({ ...check, lastUsedStep: STEP + 5 })).toEqual({ ok: false, reason: "replayed" });
  });

  it("calls a wrong code invalid, with or without a last used step", async () => {
    const at = middleOf(STEP);
    const window = await Promise.all([codeOf(STEP - 1), codeOf(STEP), codeOf(STEP + 1)]);
    const wrong = ["000000", "999999", "123456"].find((code) => !window.includes(code))!;
    for (const lastUsedStep of [null, STEP - 3, STEP]) {
      expect(await verifyTotp({ secret: RFC_SECRET, code: wrong, at, lastUsedStep })).toEqual({
        ok: false,
        reason: "invalid",
      });
    }
  });

  it("refuses anything but exactly 6 ASCII digits before asking the library", async () => {
    // The library throws on this secret, so a plain "invalid" proves it was never called.
    const unusable = { secret: "not base32!", at: middleOf(STEP), lastUsedStep: null };
    await expect(verifyTotp({ ...unusable, code: "081804" })).rejects.toThrow();
    for (const code of ["", "08180", "0818045", "08 1804", " 081804", "081804\n", "08180a", "０８１８０４"]) {
      expect(await verifyTotp({ ...unusable, code })).toEqual({ ok: false, reason: "invalid" });
    }
  });

  it("creates distinct base32 secrets of 20 bytes that round-trip through a code", async () => {
    const secret = newTotpSecret();
    // 32 base32 characters carry exactly 160 bits, so no padding.
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(newTotpSecret()).not.toBe(secret);
    const at = middleOf(STEP);
    const code = await totpCode(secret, at);
    expect(await verifyTotp({ secret, code, at, lastUsedStep: null })).toEqual({ ok: true, step: STEP });
  });

  it("builds an otpauth:// URI an authenticator app can scan", () => {
    const uri = new URL(totpUri({ issuer: "Omnicore Bank", label: "ana@example.com", secret: RFC_SECRET }));
    expect(uri.protocol).toBe("otpauth:");
    expect(uri.host).toBe("totp");
    expect(decodeURIComponent(uri.pathname.slice(1))).toBe("Omnicore Bank:ana@example.com");
    expect(uri.searchParams.get("secret")).toBe(RFC_SECRET);
    expect(uri.searchParams.get("issuer")).toBe("Omnicore Bank");
    for (const [name, value] of [
      ["algorithm", "SHA1"],
      ["digits", "6"],
      ["period", "30"],
    ]) {
      // Authenticators assume these defaults when the parameter is absent.
      expect([null, value]).toContain(uri.searchParams.get(name!));
    }
  });
});

const SHAPE = /^[a-z2-9]{6}-[a-z2-9]{6}$/;
const AMBIGUOUS = /[0o1il]/;

describe("recovery codes", () => {
  it("issues ten distinct codes shaped xxxxxx-xxxxxx without ambiguous characters", () => {
    const codes = newRecoveryCodes();
    expect(RECOVERY_CODE_COUNT).toBe(10);
    expect(codes).toHaveLength(RECOVERY_CODE_COUNT);
    expect(new Set(codes).size).toBe(codes.length);
    for (const code of codes) {
      expect(code).toMatch(SHAPE);
      expect(code).not.toMatch(AMBIGUOUS);
      expect(looksLikeRecoveryCode(code)).toBe(true);
    }
    expect(newRecoveryCodes(3)).toHaveLength(3);
  });

  it("uses the whole unambiguous alphabet", () => {
    // 31 symbols; 2,000 codes draw 20,000 characters, so a missing symbol is not chance (p < 1e-270).
    const seen = new Set(newRecoveryCodes(2_000).flatMap((code) => [...normalizeRecoveryCode(code)]));
    expect([...seen].sort().join("")).toBe("23456789abcdefghjkmnpqrstuvwxyz");
  });

  it("normalises case, hyphens and spaces", () => {
    expect(normalizeRecoveryCode("ABCDE-FGHJK")).toBe("abcdefghjk");
    expect(normalizeRecoveryCode(" abc de-fgh\tjk ")).toBe("abcdefghjk");
    expect(normalizeRecoveryCode("abcdefghjk")).toBe("abcdefghjk");
  });

  it("hashes the normalised code with SHA-256", () => {
    const expected = "22f3f00d7f9cfe6eeefa9b71bdcb093a9080fcf4981d2dbf932648fa15a2d793";
    expect(hashRecoveryCode("abcdefghjk")).toBe(expected);
    expect(hashRecoveryCode("ABCDE-FGHJK")).toBe(expected);
    expect(hashRecoveryCode("abcde-fghjm")).not.toBe(expected);
  });

  it("recognises the shape only", () => {
    expect(looksLikeRecoveryCode("k7m2px-x9q4rb")).toBe(true);
    expect(looksLikeRecoveryCode("K7M2PX X9Q4RB")).toBe(true);
    for (const input of [
      "",
      "k7m2px-x9q4r",
      "k7m2px-x9q4rbb",
      "k7m2px-x9q4r0",
      "k7m2px-x9q4ro",
      "k7m2px-x9q4r1",
      "k7m2px-x9q4rl",
      "k7m2px-x9q4ri",
      "k7m2px_x9q4rb",
    ]) {
      expect(looksLikeRecoveryCode(input)).toBe(false);
    }
  });

  it("gives any way of typing a code back the same hash (property)", () => {
    const symbol = fc.constantFrom(..."abcdefghjkmnpqrstuvwxyz23456789");
    const separator = fc.constantFrom("", "", "-", " ", "  ", "\t");
    const typed = fc.array(fc.tuple(symbol, fc.boolean(), separator), { minLength: 12, maxLength: 12 });
    fc.assert(
      fc.property(typed, (parts) => {
        const code = parts.map(([char]) => char).join("");
        const input = parts.map(([char, upper, sep]) => (upper ? char.toUpperCase() : char) + sep).join("");
        expect(normalizeRecoveryCode(input)).toBe(code);
        expect(normalizeRecoveryCode(normalizeRecoveryCode(input))).toBe(code);
        expect(hashRecoveryCode(input)).toBe(hashRecoveryCode(code));
        expect(looksLikeRecoveryCode(input)).toBe(true);
      }),
    );
  });
});

function catchError(action: () => void): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error("expected the action to throw");
}
