/** The talisman phonetic algorithms the screening module uses (talisman ships no declarations). */
declare module "talisman/phonetics/double-metaphone.js" {
  /** Double Metaphone codes of a word: [primary, alternate]; equal when the word has one reading. */
  const doubleMetaphone: (word: string) => [string, string];
  export default doubleMetaphone;
}
