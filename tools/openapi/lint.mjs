// Lints an OpenAPI document against the official OpenAPI 3.1 schema
// (@seriousme/openapi-schema-validator) and checks that every $ref resolves.
//   node tools/openapi/lint.mjs docs/openapi.yaml
import { Validator } from "@seriousme/openapi-schema-validator";

const file = process.argv[2];
if (!file) {
  console.error("usage: node lint.mjs OPENAPI_FILE");
  process.exit(2);
}
const validator = new Validator();
const result = await validator.validate(file);
if (!result.valid) {
  console.error(`${file}: not a valid OpenAPI document`);
  console.error(JSON.stringify(result.errors, null, 2));
  process.exit(1);
}
if (validator.version !== "3.1") {
  console.error(`${file}: OpenAPI ${validator.version}, expected 3.1`);
  process.exit(1);
}
try {
  validator.resolveRefs();
} catch (error) {
  console.error(`${file}: ${error.message}`);
  process.exit(1);
}
console.log(`${file}: valid OpenAPI ${validator.version}`);
