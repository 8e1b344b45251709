// Checks recorded HTTP exchanges against an OpenAPI document: each response's
// status must be documented for its route and method, its media type must be
// one the document lists for that status, its JSON body must validate against
// that schema, and the headers the document marks required must be present.
//   node tools/openapi/conform.mjs docs/openapi.yaml EXCHANGES.jsonl
// Each line of EXCHANGES.jsonl: {"method","target","status","headers":{lower-
// cased name: value},"body"}. Exits 1 listing every exchange that does not
// conform.
import { readFileSync } from "node:fs";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { parse } from "yaml";

const [specFile, exchangesFile] = process.argv.slice(2);
if (!specFile || !exchangesFile) {
  console.error("usage: node conform.mjs OPENAPI_FILE EXCHANGES.jsonl");
  process.exit(2);
}
const spec = parse(readFileSync(specFile, "utf8"));
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(spec, "openapi.json");

const pointer = (...parts) =>
  parts.map((p) => String(p).replaceAll("~", "~0").replaceAll("/", "~1")).join("/");

function resolve(node) {
  while (node && node.$ref) {
    const path = node.$ref.replace(/^#\//, "").split("/");
    node = path.reduce(
      (n, key) => n[key.replaceAll("~1", "/").replaceAll("~0", "~")],
      spec,
    );
  }
  return node;
}

// The path template that matches a concrete path, and its spec entry.
const templates = Object.keys(spec.paths).map((template) => {
  const pattern = template
    .split(/(\{[^}]+\})/)
    .map((part) =>
      part.startsWith("{")
        ? "([^/]+?)"
        : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"),
    )
    .join("");
  return { template, regex: new RegExp(`^${pattern}$`) };
});
// Literal templates first, then the longest: /reports/{id}:cancel before
// /reports/{id}.
templates.sort(
  (a, b) =>
    (a.template.includes("{") ? 1 : 0) - (b.template.includes("{") ? 1 : 0) ||
    b.template.length - a.template.length,
);

const validators = new Map();
function validatorFor(ref) {
  if (!validators.has(ref)) validators.set(ref, ajv.getSchema(ref) ?? ajv.compile({ $ref: ref }));
  return validators.get(ref);
}

const failures = [];
let checked = 0;
const lines = readFileSync(exchangesFile, "utf8").split("\n").filter(Boolean);
for (const line of lines) {
  const exchange = JSON.parse(line);
  const where = `${exchange.method} ${exchange.target} -> ${exchange.status}`;
  const fail = (why) => failures.push(`${where}: ${why}\n  body: ${String(exchange.body).slice(0, 300)}`);
  const path = exchange.target.split("?")[0];
  const match = templates.find((t) => t.regex.test(path));
  if (!match) continue; // unknown routes: 404 problems, checked as such below
  const method = exchange.method === "HEAD" ? "get" : exchange.method.toLowerCase();
  const operation = spec.paths[match.template][method];
  if (!operation) continue; // 405: not an operation of the document
  checked++;
  const responses = operation.responses;
  const key = String(exchange.status);
  const responseKey = key in responses ? key : `${key[0]}XX` in responses ? `${key[0]}XX` : "default";
  const response = resolve(responses[responseKey]);
  if (!response) {
    fail(`status ${key} is not documented for ${method.toUpperCase()} ${match.template}`);
    continue;
  }
  for (const [name, header] of Object.entries(response.headers ?? {})) {
    if (resolve(header).required && !(name.toLowerCase() in exchange.headers)) {
      fail(`required header ${name} missing`);
    }
  }
  const contentType = (exchange.headers["content-type"] ?? "").split(";")[0].trim();
  if (!response.content) {
    if (exchange.body) fail("a body where the document has none");
    continue;
  }
  if (!(contentType in response.content)) {
    fail(`content type '${contentType}' not among ${Object.keys(response.content)}`);
    continue;
  }
  if (exchange.method === "HEAD" || !contentType.endsWith("json")) continue;
  let body;
  try {
    body = JSON.parse(exchange.body);
  } catch (error) {
    fail(`body is not JSON: ${error.message}`);
    continue;
  }
  // The schema's location in the document, so that its $refs resolve there.
  const responsePointer =
    responses[responseKey].$ref ??
    `#/${pointer("paths", match.template, method, "responses", responseKey)}`;
  const ref = `openapi.json${responsePointer}/${pointer("content", contentType, "schema")}`;
  const validate = validatorFor(ref);
  if (!validate(body)) fail(ajv.errorsText(validate.errors));
}
if (failures.length > 0) {
  console.error(`${failures.length} of ${checked} responses do not conform to ${specFile}:`);
  for (const failure of failures) console.error(failure);
  process.exit(1);
}
console.log(`${checked} responses conform to ${specFile}`);
