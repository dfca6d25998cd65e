import AjvModule from "ajv";
import formatsModule from "ajv-formats";
import type { FastifySchema, FastifySchemaCompiler } from "fastify";

const Ajv = AjvModule.default ?? AjvModule;
const addFormats = formatsModule.default ?? formatsModule;

function createAjv(coerceTypes: boolean) {
  const ajv = new Ajv({
    // Unknown fields are an error, never silently dropped (Fastify's default drops them).
    removeAdditional: false,
    useDefaults: true,
    coerceTypes: coerceTypes ? "array" : false,
    allErrors: false,
    strict: false,
  });
  addFormats(ajv);
  return ajv;
}

/**
 * Bodies are validated strictly: `{"amount": 12.5}` is refused rather than coerced to "12.5",
 * because a floating-point number must never be taken for money. Query strings, params and
 * headers are text on the wire, so they are coerced to the schema's types.
 */
export function validatorCompiler(): FastifySchemaCompiler<FastifySchema> {
  const strict = createAjv(false);
  const coercing = createAjv(true);
  return ({ schema, httpPart }) => {
    const ajv = httpPart === "body" ? strict : coercing;
    return ajv.compile(schema as object) as ReturnType<FastifySchemaCompiler<FastifySchema>>;
  };
}
