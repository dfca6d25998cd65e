/** talisman ships no type declarations; these are the parts Omnicore uses. */
declare module "talisman/metrics/jaro-winkler.js" {
  /** Jaro-Winkler similarity of two strings, from 0 (nothing alike) to 1 (identical). */
  const jaroWinkler: (a: string, b: string) => number;
  export default jaroWinkler;
}
