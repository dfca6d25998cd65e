import { expect, it } from "vitest";
import { generateOpenApiTypes, readGeneratedFile } from "../scripts/openapi-types.ts";

it("sdk/src/generated/openapi.ts matches the server's OpenAPI document", async () => {
  const expected = await generateOpenApiTypes();
  const actual = await readGeneratedFile();
  expect(
    actual === expected,
    "sdk/src/generated/openapi.ts is out of date with the server's routes: run `npm run sdk:generate`",
  ).toBe(true);
});
