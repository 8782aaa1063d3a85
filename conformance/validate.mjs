#!/usr/bin/env node
// Checks what Flotilla's GitHub client sent, and what the simulator answered, against
// GitHub's own published descriptions: the REST OpenAPI description
// (`@octokit/openapi`, `generated/api.github.com.json`) and the GraphQL schema
// (`@octokit/graphql-schema`).
//
// Usage:
//   node conformance/validate.mjs <exchanges.json>          routes, documents and exchanges
//   node conformance/validate.mjs --routes-only <file.json>  routes and documents only
//   node conformance/validate.mjs --requests-only <file.json>
//        routes, documents and what the client sent; the simulator's answers are not
//        judged (for when only the client's conformance should gate)
//
// The input is written by `tests/it/conformance.rs`:
//   { "routes": [{ "method", "template" }],
//     "graphql_documents": [{ "name", "document" }],
//     "exchanges": [{ "method", "path", "request_body", "status", "response_body",
//                     "graphql"?: { "query", "variables", "operationName"? },
//                     "request_headers"?: { "user-agent", "accept", ... } }] }
//
// One line per check (PASS / FAIL / WAIVED + reason), then `N passed, N failed`; the exit
// status is non-zero when anything failed. Known, deliberate deviations from the
// description live in `waivers.json` next to this file, each with its reason; a waived
// check is printed as WAIVED, never silently passed.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { schema as octokitGraphqlSchema } from "@octokit/graphql-schema";
import Ajv from "ajv";
import addFormats from "ajv-formats";
import {
  buildClientSchema,
  execute,
  getVariableValues,
  Kind,
  parse,
  validate as validateGraphql,
} from "graphql";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

/** The base every `$ref` of the description is rewritten against. */
const SPEC_ID = "https://api.github.com/openapi.json";
/** Error statuses GitHub documents for every endpoint (docs: "Troubleshooting the REST
 * API"): bad credentials, forbidden / rate limited, not found, validation, server
 * errors. An operation that does not list them may still answer them. */
const GENERIC_ERROR_STATUSES = new Set([401, 403, 404, 422, 429, 500, 502, 503, 504]);

function usage() {
  console.error("usage: node validate.mjs [--routes-only | --requests-only] <exchanges.json>");
  process.exit(2);
}

const args = process.argv.slice(2);
const FLAGS = ["--routes-only", "--requests-only"];
const routesOnly = args.includes("--routes-only");
const requestsOnly = args.includes("--requests-only");
const unknown = args.filter((a) => a.startsWith("--") && !FLAGS.includes(a));
if (unknown.length) usage();
const files = args.filter((a) => !FLAGS.includes(a));
if (files.length !== 1) usage();
const input = JSON.parse(readFileSync(files[0], "utf8"));
const waivers = JSON.parse(readFileSync(join(here, "waivers.json"), "utf8")).waivers;

// ---------------------------------------------------------------- the REST description

const spec = JSON.parse(
  readFileSync(require.resolve("@octokit/openapi/generated/api.github.com.json"), "utf8"),
);

/** OpenAPI 3.0 → JSON Schema: `nullable: true` becomes a `null` alternative, and every
 * local `$ref` becomes absolute so an operation's schema compiles on its own. */
function convert(node) {
  if (Array.isArray(node)) {
    node.forEach(convert);
    return node;
  }
  if (node === null || typeof node !== "object") return node;
  for (const value of Object.values(node)) convert(value);
  if (typeof node.$ref === "string" && node.$ref.startsWith("#/")) {
    node.$ref = SPEC_ID + node.$ref;
  }
  if (node.nullable === true) {
    delete node.nullable;
    if (typeof node.type === "string") {
      node.type = [node.type, "null"];
      if (Array.isArray(node.enum) && !node.enum.includes(null)) node.enum.push(null);
    } else {
      const inner = { ...node };
      for (const key of Object.keys(node)) delete node[key];
      node.anyOf = [inner, { type: "null" }];
    }
  }
  return node;
}
convert(spec.components.schemas);
convert(spec.components.responses);
convert(spec.components.requestBodies ?? {});
convert(spec.components.parameters ?? {});
convert(spec.paths);

const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
addFormats(ajv);
for (const name of ["int32", "int64", "double", "binary", "repo.nwo"]) ajv.addFormat(name, true);
ajv.addSchema({ $id: SPEC_ID, components: spec.components });

/** Follows a `$ref` to a component (responses and request bodies may be refs). */
function deref(node) {
  let current = node;
  while (current && typeof current.$ref === "string") {
    const pointer = current.$ref.slice(SPEC_ID.length + 2).split("/");
    current = pointer.reduce(
      (at, part) => at?.[part.replace(/~1/g, "/").replace(/~0/g, "~")],
      spec,
    );
  }
  return current;
}

/** Whether a placeholder takes the rest of the path: `{path}` (a file in a tree), and the
 * `{ref}` of the git reference routes (`heads/feature-a`, as GitHub documents). */
function spans(template, name) {
  return name === "path" || (name === "ref" && /\/git\/refs?\/\{ref\}$/.test(template));
}

/** Path templates as matchers; literal segments outrank placeholders. A placeholder
 * that `spans` may span segments. */
const templates = Object.keys(spec.paths).map((template) => {
  const parts = template.split("/").map((segment) => {
    const m = /^\{(.+)\}$/.exec(segment);
    if (!m) return segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    return spans(template, m[1]) ? ".+" : "[^/]+";
  });
  const literals = template.split("/").filter((s) => s && !s.startsWith("{")).length;
  return { template, regex: new RegExp(`^${parts.join("/")}$`), literals };
});

/** The spec's template for a concrete path, the most specific one first. */
function matchTemplates(path) {
  return templates
    .filter((t) => t.regex.test(path))
    .sort((a, b) => b.literals - a.literals)
    .map((t) => t.template);
}

/** The JSON media type's schema of a request body or response, if any. */
function jsonSchema(content) {
  if (!content) return undefined;
  const type =
    "application/json" in content
      ? "application/json"
      : Object.keys(content).find((t) => t.includes("json"));
  return type ? content[type].schema : undefined;
}

/** Query strings and path segments are text: their values are checked after coercion. */
const coercing = new Ajv({ strict: false, allErrors: true, coerceTypes: "array" });
addFormats(coercing);
for (const name of ["int32", "int64", "double", "binary", "repo.nwo"]) coercing.addFormat(name, true);
coercing.addSchema({ $id: SPEC_ID, components: spec.components });

/** Checks the path's placeholder values and the query's names and values against the
 * operation's parameters; returns a reason or undefined. */
function checkParameters(template, op, path) {
  const [pathOnly, queryString = ""] = path.split("?");
  const parameters = [...(spec.paths[template].parameters ?? []), ...(op.parameters ?? [])].map(deref);
  const values = [];
  // Path placeholders, segment by segment (one that `spans` takes the rest).
  const names = template.split("/");
  const parts = pathOnly.split("/");
  for (let i = 0; i < names.length; i += 1) {
    const m = /^\{(.+)\}$/.exec(names[i]);
    if (!m) continue;
    const raw = spans(template, m[1]) ? parts.slice(i).join("/") : parts[i];
    values.push(["path", m[1], decodeURIComponent(raw)]);
  }
  for (const [name, value] of new URLSearchParams(queryString)) values.push(["query", name, value]);
  const problems = [];
  for (const [where, name, value] of values) {
    const param = parameters.find((p) => p.in === where && p.name === name);
    if (!param) {
      problems.push(`GitHub documents no ${where} parameter \`${name}\``);
      continue;
    }
    if (!param.schema) continue;
    const check = coercing.compile({ type: "object", properties: { value: param.schema } });
    if (!check({ value })) problems.push(`${where} parameter \`${name}\`=${JSON.stringify(value)}: ${check.errors.map((e) => e.message).join(", ")}`);
  }
  for (const param of parameters) {
    if (param.required && !values.some(([w, n]) => w === param.in && n === param.name)) {
      problems.push(`required ${param.in} parameter \`${param.name}\` is missing`);
    }
  }
  return problems.length ? problems.join("; ") : undefined;
}

const compiled = new Map();
function validator(schema) {
  if (!compiled.has(schema)) compiled.set(schema, ajv.compile(schema));
  return compiled.get(schema);
}

/** Every distinct schema error, grouped so one cause reads as one line: missing
 * properties of one object together, format errors of one object's fields together. */
const distinct = new Map();
function remember(side, operationId, errors, data) {
  for (const e of errors ?? []) {
    if (e.keyword === "oneOf" || e.keyword === "anyOf") continue;
    const path = (e.instancePath || "").replace(/\/\d+(?=\/|$)/g, "/*") || `${operationId} /`;
    let key;
    let leaf;
    let example = "";
    if (e.keyword === "required") {
      key = `${side}: ${path} lacks required`;
      leaf = e.params.missingProperty;
    } else if (e.keyword === "format") {
      const cut = path.lastIndexOf("/");
      key = `${side}: ${path.slice(0, cut) || ""}/{…} must match format "${e.params.format}"`;
      leaf = path.slice(cut + 1);
      example = ` e.g. ${JSON.stringify(at(data, e.instancePath))?.slice(0, 60)}`;
    } else {
      key = `${side}: ${path} ${e.message}`;
      if (["type", "enum", "const"].includes(e.keyword)) example = ` (got ${JSON.stringify(at(data, e.instancePath))?.slice(0, 60)})`;
    }
    const entry = distinct.get(key) ?? { leaves: new Set(), operations: new Set(), example };
    if (leaf) entry.leaves.add(leaf);
    entry.operations.add(operationId);
    distinct.set(key, entry);
  }
}

/** The value at a JSON pointer of ajv's `instancePath`. */
function at(data, pointer) {
  return pointer
    .split("/")
    .slice(1)
    .reduce((v, part) => v?.[part.replace(/~1/g, "/").replace(/~0/g, "~")], data);
}

/** ajv's errors as one readable string, with the offending value where it helps. */
function describe(errors, data) {
  const seen = new Set();
  const lines = [];
  for (const e of errors ?? []) {
    let line = `${e.instancePath || "/"} ${e.message}`;
    if (e.params?.allowedValues) line += ` ${JSON.stringify(e.params.allowedValues)}`;
    if (["format", "type", "enum", "const", "pattern"].includes(e.keyword)) {
      line += ` (got ${JSON.stringify(at(data, e.instancePath))?.slice(0, 80)})`;
    }
    if (!seen.has(line)) {
      seen.add(line);
      lines.push(line);
    }
  }
  const limit = process.env.CONFORMANCE_VERBOSE ? Infinity : 4;
  return lines.slice(0, limit).join("; ") + (lines.length > limit ? `; … ${lines.length - limit} more` : "");
}

/** A waiver that covers every error of a failed check, or undefined. */
function waiverFor(kind, method, template, errors) {
  const candidates = waivers.filter(
    (w) => w.kind === kind && w.method === method && w.template === template,
  );
  if (candidates.length === 0) return undefined;
  const all = errors.every((e) =>
    candidates.some(
      (w) =>
        w.instancePath === e.instancePath &&
        w.keyword === e.keyword &&
        (w.missingProperty === undefined || w.missingProperty === e.params?.missingProperty),
    ),
  );
  return all ? candidates.map((w) => w.reason).join(" / ") : undefined;
}

// ---------------------------------------------------------------- the GraphQL schema

const graphqlSchema = buildClientSchema(octokitGraphqlSchema.json);

/** Parses and validates a document; returns [document, operation] or throws a reason. */
function checkDocument(source, operationName) {
  let document;
  try {
    document = parse(source);
  } catch (e) {
    throw new Error(`does not parse: ${e.message}`);
  }
  const errors = validateGraphql(graphqlSchema, document);
  if (errors.length) throw new Error(errors.map((e) => e.message).join("; "));
  const operations = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
  const operation = operationName
    ? operations.find((o) => o.name?.value === operationName)
    : operations.length === 1
      ? operations[0]
      : undefined;
  if (!operation) throw new Error("no single operation to run (name the operation)");
  return [document, operation];
}

// ---------------------------------------------------------------- checks

let passed = 0;
let failed = 0;
let waived = 0;
function pass(label, note = "") {
  passed += 1;
  console.log(`PASS ${label}${note ? ` (${note})` : ""}`);
}
function fail(label, reason) {
  failed += 1;
  console.log(`FAIL ${label}: ${reason}`);
}
function waive(label, reason) {
  waived += 1;
  passed += 1;
  console.log(`WAIVED ${label}: ${reason}`);
}

/** Every route the client can call exists in the description, with that method. */
function checkRoutes(routes) {
  for (const { method, template } of routes) {
    const label = `route ${method} ${template}`;
    if (template === "/graphql") {
      pass(label, "GraphQL endpoint; documents are checked against the GraphQL schema");
      continue;
    }
    const item = spec.paths[template];
    if (!item) {
      const similar = matchTemplates(template.replace(/\{[^}]+\}/g, "x"));
      fail(
        label,
        `GitHub has no route ${method} ${template}${similar.length ? ` (did you mean ${similar[0]}?)` : ""}`,
      );
      continue;
    }
    const op = item[method.toLowerCase()];
    if (!op) {
      fail(label, `GitHub has no route ${method} ${template} (it has ${methodsOf(item)})`);
      continue;
    }
    pass(label, op.operationId);
  }
}

function methodsOf(item) {
  return Object.keys(item)
    .filter((m) => m !== "parameters")
    .map((m) => m.toUpperCase())
    .join(", ");
}

/** Every GraphQL document the client can send validates against the schema. */
function checkDocuments(documents) {
  for (const { name, document } of documents) {
    const label = `graphql document ${name}`;
    try {
      const [, operation] = checkDocument(document, name);
      pass(label, `${operation.operation} ${operation.name?.value ?? "(anonymous)"}`);
    } catch (e) {
      fail(label, e.message);
    }
  }
}

/** GitHub's header rules: a request without `User-Agent` is refused (403); the media
 * type and API version are recommended, so their absence is only noted. Exchanges
 * recorded without headers skip this. */
function checkHeaders(x, notes) {
  const h = x.request_headers;
  if (!h) return undefined;
  if (!h["user-agent"]) return "no User-Agent header: GitHub refuses such requests";
  const hasBody = x.request_body !== null && x.request_body !== undefined;
  if (hasBody && !/json/.test(h["content-type"] ?? "")) {
    return `a JSON body sent as ${JSON.stringify(h["content-type"] ?? "no content type")}`;
  }
  if (!h.accept) notes.push("no Accept header (GitHub recommends application/vnd.github+json)");
  if (!h["x-github-api-version"] && x.path.split("?")[0] !== "/graphql") {
    notes.push("no X-GitHub-Api-Version header (GitHub then assumes 2022-11-28)");
  }
  return undefined;
}

function checkRestExchange(index, x) {
  const [pathOnly] = x.path.split("?");
  const label = `#${index} ${x.method} ${x.path} → ${x.status}`;
  const candidates = matchTemplates(pathOnly);
  const template = candidates.find((t) => spec.paths[t][x.method.toLowerCase()]);
  if (!template) {
    const other = candidates.length ? ` (the path exists for ${methodsOf(spec.paths[candidates[0]])})` : "";
    return fail(label, `GitHub has no route ${x.method} ${pathOnly}${other}`);
  }
  const op = spec.paths[template][x.method.toLowerCase()];
  const notes = [`${op.operationId}`];
  const parameterProblem = checkParameters(template, op, x.path);
  if (parameterProblem) return fail(label, parameterProblem);
  const headerProblem = checkHeaders(x, notes);
  if (headerProblem) return fail(label, headerProblem);

  // Request body.
  const requestBody = deref(op.requestBody);
  const hasBody = x.request_body !== null && x.request_body !== undefined;
  if (requestBody) {
    const schema = jsonSchema(requestBody.content);
    if (!hasBody && requestBody.required) {
      return fail(label, `${template} requires a request body; none was sent`);
    }
    if (hasBody && schema) {
      const check = validator(schema);
      if (!check(x.request_body)) {
        const reason = waiverFor("request", x.method, template, check.errors);
        if (!reason) {
          remember("request", op.operationId, check.errors, x.request_body);
          return fail(label, `request body: ${describe(check.errors, x.request_body)}`);
        }
        notes.push(`request body waived: ${reason}`);
      }
    }
  } else if (hasBody) {
    return fail(label, `GitHub documents no request body for ${x.method} ${template}`);
  }

  // Response.
  if (requestsOnly) {
    const anyWaived = notes.some((n) => n.includes("waived"));
    notes.push("response not judged (--requests-only)");
    return anyWaived ? waive(label, notes.join("; ")) : pass(label, notes.join("; "));
  }
  const documented = op.responses[String(x.status)];
  let response = deref(documented);
  if (!response) {
    if (x.status >= 400 && GENERIC_ERROR_STATUSES.has(x.status)) {
      response = { content: { "application/json": { schema: { $ref: `${SPEC_ID}#/components/schemas/basic-error` } } } };
      notes.push(`status ${x.status} not listed for this operation; checked as GitHub's generic error`);
    } else {
      return fail(
        label,
        `GitHub documents no ${x.status} for ${x.method} ${template} (documented: ${Object.keys(op.responses).join(", ")})`,
      );
    }
  }
  const schema = jsonSchema(response.content);
  if (schema) {
    if (x.response_body === null || x.response_body === undefined) {
      return fail(label, `response ${x.status} should carry a JSON body; it was empty or not JSON`);
    }
    const check = validator(schema);
    if (!check(x.response_body)) {
      const reason = waiverFor("response", x.method, template, check.errors);
      if (!reason) {
        remember("response", op.operationId, check.errors, x.response_body);
        return fail(label, `response body: ${describe(check.errors, x.response_body)}`);
      }
      notes.push(`response waived: ${reason}`);
    }
  }
  const anyWaived = notes.some((n) => n.includes("waived"));
  return anyWaived ? waive(label, notes.join("; ")) : pass(label, notes.join("; "));
}

function checkGraphqlExchange(index, x, known) {
  const g = x.graphql ?? x.request_body ?? {};
  const label = `#${index} POST /graphql ${g.operationName ?? operationNameOf(g.query) ?? ""} → ${x.status}`;
  if (x.method !== "POST") return fail(label, "GraphQL is POST /graphql");
  if (typeof g.query !== "string") return fail(label, "request has no `query` string");
  const headerProblem = checkHeaders(x, []);
  if (headerProblem) return fail(label, headerProblem);
  if (!known.has(normalise(g.query))) {
    return fail(label, "document is not in the client's graphql_documents() list");
  }
  let document;
  let operation;
  try {
    [document, operation] = checkDocument(g.query, g.operationName);
  } catch (e) {
    return fail(label, `document: ${e.message}`);
  }
  const coerced = getVariableValues(graphqlSchema, operation.variableDefinitions ?? [], g.variables ?? {});
  if (coerced.errors) {
    return fail(label, `variables: ${coerced.errors.map((e) => e.message).join("; ")}`);
  }
  if (requestsOnly) return pass(label, `${operation.operation} ${operation.name?.value ?? ""}; response not judged (--requests-only)`);
  if (x.status !== 200) return fail(label, `GraphQL answers 200 (errors in the body); got ${x.status}`);
  const body = x.response_body;
  if (!body || typeof body !== "object") return fail(label, "response is not a JSON object");
  if (body.errors !== undefined) {
    const ok =
      Array.isArray(body.errors) &&
      body.errors.length > 0 &&
      body.errors.every((e) => e && typeof e.message === "string" && (e.path === undefined || Array.isArray(e.path)));
    if (!ok) return fail(label, "`errors` must be a non-empty list of objects with a `message`");
    // An error while executing a field nulls that field, and `data` stays an object,
    // unless the null reaches a non-null root field (GraphQL spec, "Handling Execution
    // Errors"); GitHub answers `{"data": {"enablePullRequestAutoMerge": null}, "errors":
    // [{"type", "path", "locations", "message"}]}`.
    if ("data" in body && body.data === null) {
      const rootType =
        operation.operation === "mutation" ? graphqlSchema.getMutationType() : graphqlSchema.getQueryType();
      const roots = operation.selectionSet.selections.filter((sel) => sel.kind === Kind.FIELD);
      const anyNonNull = roots.some((f) => String(rootType.getFields()[f.name.value]?.type).endsWith("!"));
      if (!anyNonNull) {
        return fail(
          label,
          `\`data\` is null, but every root field (${roots.map((f) => f.name.value).join(", ")}) is nullable: an execution error should leave \`data\` an object with the failed field null`,
        );
      }
    }
    return pass(label, `errors: ${body.errors.map((e) => e.message).join("; ")}`);
  }
  if (!body.data || typeof body.data !== "object") return fail(label, "response has neither `data` nor `errors`");
  // Replays the recorded `data` through the schema: a missing non-null field, an unknown
  // enum value or a wrongly typed scalar comes back as an execution error.
  const result = execute({
    schema: graphqlSchema,
    document,
    operationName: operation.name?.value,
    rootValue: body.data,
    variableValues: g.variables ?? {},
  });
  if (result.errors?.length) {
    return fail(label, `response data: ${result.errors.map((e) => `${e.path?.join(".") ?? ""} ${e.message}`).join("; ")}`);
  }
  return pass(label, `${operation.operation} ${operation.name?.value ?? ""}, data matches the schema`);
}

function operationNameOf(query) {
  return typeof query === "string" ? /(?:query|mutation)\s+(\w+)/.exec(query)?.[1] : undefined;
}

function normalise(document) {
  return document.replace(/\s+/g, " ").trim();
}

// ---------------------------------------------------------------- main

const routes = input.routes ?? [];
const documents = input.graphql_documents ?? [];
if (routes.length === 0) fail("route list", "the input lists no routes");
checkRoutes(routes);
checkDocuments(documents);
if (!routesOnly) {
  const exchanges = input.exchanges ?? [];
  if (exchanges.length === 0) fail("exchanges", "the input records no exchanges");
  const known = new Set(documents.map((d) => normalise(d.document)));
  exchanges.forEach((x, i) => {
    const [pathOnly] = x.path.split("?");
    if (pathOnly === "/graphql") checkGraphqlExchange(i + 1, x, known);
    else checkRestExchange(i + 1, x);
  });
  // Routes the client lists but the recorded run never called.
  const exercised = new Set(
    exchanges.map((x) => {
      const [p] = x.path.split("?");
      if (p === "/graphql") return "POST /graphql";
      const t = matchTemplates(p).find((c) => spec.paths[c][x.method.toLowerCase()]);
      return `${x.method} ${t}`;
    }),
  );
  const missing = routes.filter((r) => !exercised.has(`${r.method} ${r.template}`));
  for (const r of missing) console.log(`NOTE route ${r.method} ${r.template} was not exercised by the recorded run`);
}
if (distinct.size) {
  console.log(`\nDistinct schema mismatches (${distinct.size}):`);
  for (const [key, { leaves, operations, example }] of [...distinct].sort()) {
    const what = leaves.size ? key.replace("{…}", `{${[...leaves].join(",")}}`) + (key.endsWith("required") ? ` ${[...leaves].join(", ")}` : "") : key;
    console.log(`  ${what}${example} — in ${[...operations].sort().join(", ")}`);
  }
  console.log("");
}
console.log(`${passed} passed, ${failed} failed${waived ? ` (${waived} passed under a waiver)` : ""}`);
process.exit(failed ? 1 : 0);
