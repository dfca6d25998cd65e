import { readFileSync } from "node:fs";
import { XmlDocument, XmlLibError, XsdValidator } from "libxml2-wasm";

/**
 * Validation against the official ISO 20022 XSDs copied into the repository, with libxml2 compiled
 * to WebAssembly: the same validator as `xmllint --schema`, without any system package.
 */
export type RailSchema = "pacs.008.001.09" | "pacs.002.001.11" | "pacs.004.001.10";

const SCHEMA_DIRECTORY = new URL("../../../src/modules/payments/rail/schemas/", import.meta.url);
const validators = new Map<RailSchema, XsdValidator>();

function validatorFor(schema: RailSchema): XsdValidator {
  const cached = validators.get(schema);
  if (cached) return cached;
  const source = readFileSync(new URL(`${schema}.xsd`, SCHEMA_DIRECTORY), "utf8");
  // The schema document must outlive the validator built from it, so it is kept for the process.
  const validator = XsdValidator.fromDoc(XmlDocument.fromString(source));
  validators.set(schema, validator);
  return validator;
}

/** The validator's complaints about `xml`; empty when the message is valid. */
export function xsdErrors(xml: string, schema: RailSchema): string[] {
  const validator = validatorFor(schema);
  let document: XmlDocument;
  try {
    document = XmlDocument.fromString(xml);
  } catch (error) {
    return [`not well-formed: ${(error as Error).message}`];
  }
  try {
    validator.validate(document);
    return [];
  } catch (error) {
    if (error instanceof XmlLibError) return error.details.map((detail) => detail.message.trim());
    throw error;
  } finally {
    document.dispose();
  }
}
