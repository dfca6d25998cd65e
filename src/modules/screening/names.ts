import doubleMetaphone from "talisman/phonetics/double-metaphone.js";

/**
 * Name normalisation for screening: the same person is written many ways across alphabets and
 * lists ("Muhammad" / "Mohammed", "Abd al-Rahman" / "Abdulrahman", "Müller" / "Muller", "BIN LADIN,
 * Usama" / "Usama bin Ladin"). Every name becomes a list of canonical tokens; word order is not
 * kept because lists and customers order names differently. Pure functions only.
 */

/** Letters NFKD leaves whole (they are not a base letter plus a combining mark). */
const LETTER_FOLDS: Record<string, string> = {
  ß: "ss",
  æ: "ae",
  ø: "o",
  œ: "oe",
  đ: "d",
  ð: "d",
  ł: "l",
  þ: "th",
  ı: "i",
  ħ: "h",
};

/**
 * Words that carry no identity: honorifics, Arabic and European particles, company forms. They
 * differ between the list and what a customer writes ("Dr.", "al-", "de"), so they are dropped.
 */
const STOP_WORDS = new Set([
  // Honorifics and titles.
  "mr",
  "mrs",
  "ms",
  "miss",
  "dr",
  "prof",
  "sir",
  "shaykh",
  "sheikh",
  "sheik",
  "haji",
  "hajji",
  "mullah",
  "mawlawi",
  "maulvi",
  // Particles.
  "al",
  "el",
  "ul",
  "bin",
  "ibn",
  "bint",
  "binti",
  "de",
  "da",
  "del",
  "della",
  "der",
  "den",
  "di",
  "do",
  "dos",
  "das",
  "du",
  "la",
  "le",
  "van",
  "von",
  // Company forms and joining words.
  "the",
  "of",
  "and",
  "co",
  "ltd",
  "llc",
  "inc",
  "corp",
  "plc",
  "gmbh",
  "sa",
  "srl",
  "bv",
  "jsc",
  "pjsc",
  "ooo",
  "oao",
  "zao",
]);

/**
 * Transliteration variants of common given names and name parts, each group mapped to one
 * canonical spelling. Jaro-Winkler alone scores "Hussein" / "Husayn" too low to trust, and
 * phonetic codes alone confuse different names ("Omar" / "Amir"), so the known groups are explicit.
 */
const VARIANT_GROUPS: ReadonlyArray<readonly string[]> = [
  [
    "muhammad",
    "mohammed",
    "mohammad",
    "mohamed",
    "mohamad",
    "muhammed",
    "muhamad",
    "muhamed",
    "mohammod",
    "mouhamed",
    "mouhammad",
    "mohamud",
    "muhammet",
    "mohd",
    "mhd",
  ],
  ["ahmad", "ahmed", "achmed", "ahmet", "ahmmed"],
  ["husayn", "hussein", "husein", "hussain", "husain", "hossein", "hosein", "houssein", "husseyn"],
  ["hasan", "hassan", "hassen", "hasen"],
  ["usama", "osama", "ousama", "oussama", "usamah"],
  ["yusuf", "yousef", "youssef", "yusef", "yousif", "yousuf", "yussuf", "youcef", "yossef"],
  ["umar", "omar", "omer", "umer", "omur"],
  ["abu", "abou", "abo"],
  ["mahmud", "mahmoud", "mahmood", "mehmood", "mahmod"],
  ["mustafa", "moustafa", "mostafa", "mustapha", "moustapha", "mostapha"],
  ["ali", "aly"],
  ["khalid", "khaled", "khalled"],
  ["ibrahim", "ebrahim", "ibraheem", "ibragim", "ibrahem"],
  ["ismail", "ismael", "ismayil", "esmail", "ismaeel"],
  ["sulayman", "suleiman", "sulaiman", "soleiman", "sleiman", "suleyman", "solaiman", "soliman"],
  ["qasim", "qassem", "kassem", "kasim", "qassim", "qasem", "ghasem", "kasem"],
  ["nasir", "nasser", "naser", "nassir", "nasr"],
  ["jamal", "gamal", "djamal"],
  ["rahman", "rehman", "rahmane"],
  ["muhsin", "mohsen", "mohsin", "muhsen"],
  ["hamid", "hamed"],
  ["karim", "kareem", "kerim"],
  ["rashid", "rasheed", "rachid", "rashed"],
  ["yasin", "yassin", "yaseen", "yassine", "yacine"],
  ["zakariya", "zakaria", "zakariyya", "zakariah", "zakariyah"],
  ["said", "saeed", "saied", "sayeed", "saeid"],
  ["abd", "abdul", "abdel", "abdal", "abdoul", "abdol", "abdu"],
  ["abdullah", "abdallah", "abdollah", "abdulah", "abdalla", "abdellah", "abdulla"],
  ["ayman", "aiman", "aymen"],
  ["faisal", "faysal", "feisal", "faycal"],
  ["hamza", "hamzah", "hamzeh"],
  ["jafar", "jaafar", "djafar", "jaffar"],
  ["mansur", "mansour", "mansoor"],
  ["nur", "nour", "noor"],
  ["uthman", "othman", "osman", "usman", "othmane"],
  ["salih", "saleh"],
  ["salim", "saleem", "selim"],
  ["tariq", "tarek", "tarik", "tareq"],
  ["walid", "waleed", "oualid"],
  ["zayd", "zaid", "zayed", "zeid"],
  ["yahya", "yehia", "yahia", "yehya"],
  ["aleksandr", "alexander", "alexandr", "aleksander", "oleksandr", "alexandre"],
  ["aleksey", "alexei", "aleksei", "alexey", "oleksiy", "oleksii"],
  ["dmitry", "dmitri", "dmitriy", "dimitri", "dmytro", "dmitrii"],
  ["yevgeny", "evgeny", "evgeniy", "yevgeniy", "evgenii", "yevhen", "eugene"],
  ["yury", "yuri", "yuriy", "iouri", "yurii", "iurii"],
  ["sergey", "sergei", "serguei", "serhiy", "sergiy", "serhii"],
  ["nikolay", "nikolai", "mykola"],
  ["andrey", "andrei", "andriy", "andrii"],
  ["mikhail", "mykhailo", "mikhael"],
  ["vyacheslav", "viacheslav"],
  ["igor", "ihor"],
  ["oleg", "oleh"],
  ["vladimir", "volodymyr", "wladimir"],
  ["pavel", "pavlo"],
  ["pyotr", "petr", "petro"],
];

const CANONICAL = new Map<string, string>(
  VARIANT_GROUPS.flatMap((group) => group.map((variant) => [variant, group[0]!] as const)),
);

/** "abdulrahman" is "abd" + "rahman"; "abdullah" stays whole (it is a name of its own). */
const ABD_PREFIX = /^(abdul|abdel|abdal|abdoul|abdol|abd)([a-z]{3,})$/;
const ABDULLAH_REST = new Set(["lah", "llah", "ullah", "allah", "ulla", "alla", "ellah"]);

/** Lower case, Latin letters without diacritics, apostrophes removed, other punctuation as spaces. */
export function foldText(text: string): string {
  let folded = text
    .normalize("NFKD")
    .toLowerCase()
    .replace(/\p{M}+/gu, "");
  folded = folded.replace(/[ßæøœđðłþıħ]/g, (letter) => LETTER_FOLDS[letter] ?? letter);
  return folded
    .replace(/['’‘`´ʻʼ]/g, "")
    .replace(/[^a-z0-9]+/g, " ")
    .trim();
}

function canonicalToken(token: string): string[] {
  const known = CANONICAL.get(token);
  if (known) return [known];
  const abd = ABD_PREFIX.exec(token);
  if (abd) {
    const rest = abd[2]!;
    if (ABDULLAH_REST.has(rest)) return ["abdullah"];
    return ["abd", CANONICAL.get(rest) ?? rest];
  }
  return [token];
}

/**
 * The canonical tokens of a name, in their written order: folded, stop words dropped, variants
 * mapped. A name made only of stop words keeps its folded tokens, so it still matches itself.
 */
export function nameTokens(name: string): string[] {
  const folded = foldText(name)
    .split(" ")
    .filter((token) => token !== "");
  const significant = folded.filter((token) => !STOP_WORDS.has(token));
  const kept = significant.length > 0 ? significant : folded;
  return kept.flatMap(canonicalToken);
}

/** The normalised form of a name: its canonical tokens joined by spaces. Idempotent. */
export function normalizeName(name: string): string {
  return nameTokens(name).join(" ");
}

/** True for a token that is an initial ("J" of "J. Smith"). */
export function isInitial(token: string): boolean {
  return token.length === 1 && token >= "a" && token <= "z";
}

/**
 * Phonetic blocking keys of one token (Double Metaphone, primary and alternate). Initials have
 * none: they never make a name a candidate on their own. Digits and very short codes key as themselves.
 */
export function phoneticKeys(token: string): string[] {
  if (isInitial(token)) return [];
  if (!/^[a-z]+$/.test(token)) return [`=${token}`];
  const [primary, alternate] = doubleMetaphone(token);
  const keys = new Set<string>();
  if (primary) keys.add(primary);
  if (alternate) keys.add(alternate);
  if (keys.size === 0) keys.add(`=${token}`);
  return [...keys];
}

/** "LAST, First Middle" (how OFAC writes individuals) as "First Middle LAST", for display. */
export function displayName(listedName: string, individual: boolean): string {
  if (!individual) return listedName;
  const comma = listedName.indexOf(",");
  if (comma < 0) return listedName;
  const last = listedName.slice(0, comma).trim();
  const first = listedName.slice(comma + 1).trim();
  return first ? `${first} ${last}` : last;
}
