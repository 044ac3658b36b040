// The configuration reference and JSON Schema cannot drift from the schema: both are regenerated
// here and compared with the committed files; every field says what it does; the example file
// loads, uses every section, and passes the JSON Schema editors check it with.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parseDocument } from 'yaml';
import { loadConfig } from './load.ts';
import {
  configJsonSchema,
  configReference,
  REFERENCE_FILE,
  SCHEMA_FILE,
  undocumentedFields,
} from './reference.ts';

const root = new URL('../../', import.meta.url);
const read = (file: string) => readFileSync(new URL(file, root), 'utf8');
const STALE = 'stale: run `npm run config:reference` and commit the result';

test('the committed JSON Schema and reference page are what the schema generates', () => {
  assert.equal(
    read(SCHEMA_FILE),
    `${JSON.stringify(configJsonSchema(), null, 2)}\n`,
    `${SCHEMA_FILE} is ${STALE}`,
  );
  assert.equal(read(REFERENCE_FILE), configReference(), `${REFERENCE_FILE} is ${STALE}`);
});

test('every field of the schema says what it does', () => {
  assert.deepEqual(undocumentedFields(), []);
});

test('the reference lists every field with the default Courier resolves', () => {
  const page = configReference();
  assert.match(
    page,
    /\| `destinations\[\]\.timeoutMs` \| duration or `auto` \| `10s` \(10000\) \| `1ms` … `5m` \(300000\) \|/,
  );
  assert.match(page, /\| `destinations\[\]\.retry\.maxAttempts` \| integer \| `12` \| 1 … 1000 \|/);
  assert.match(
    page,
    /\| `idempotency\.windowMs` \| duration \| `7d` \(604800000\) \| ≥ `2d` \(172800000\) \|/,
  );
  assert.match(page, /\| `destinations\[\]\.auth\.tokenUrl` \| string \| required \|/);
});

const EXAMPLE_ENV = {
  CRM_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  CRM_NEXT_SECRET: 'whsec_c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24=',
  CRM_TOKEN: 'token',
  BILLING_OAUTH_SECRET: 'oauth-secret',
  ALERT_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
};

test('courier.example.yaml loads and uses every top-level section of the schema', () => {
  const config = loadConfig({ path: new URL('courier.example.yaml', root).pathname, env: EXAMPLE_ENV });
  assert.ok(config.destinations.length >= 2);
  const written = Object.keys(parseDocument(read('courier.example.yaml')).toJS() as object);
  const sections = Object.keys(configJsonSchema().properties ?? {});
  assert.deepEqual(
    sections.filter((s) => !written.includes(s)),
    [],
    'sections the example leaves out',
  );
});

test('the JSON Schema accepts the example as written and catches what an editor should', () => {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  const validate = ajv.compile(configJsonSchema());
  const example = parseDocument(read('courier.example.yaml')).toJS();
  assert.ok(validate(example), JSON.stringify(validate.errors));
  const wrong = {
    kafka: { brokers: ['localhost:9092'], partitons: { events: 3 } },
    destinations: [{ id: 'Bad Id', url: 'https://x.example', secrets: ['nope'], timeoutMs: '5s' }],
  };
  assert.equal(validate(wrong), false);
  const problems = (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`).join('\n');
  assert.match(problems, /\/kafka must NOT have additional properties/);
  assert.match(problems, /\/destinations\/0\/id must match pattern/);
  assert.match(problems, /\/destinations\/0\/secrets\/0 must match pattern/);
  assert.doesNotMatch(problems, /timeoutMs/, 'a duration label is fine');
});
