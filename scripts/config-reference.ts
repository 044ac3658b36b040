// `npm run config:reference`: writes the configuration reference page and the JSON Schema of
// courier.yaml from the schema (src/config/reference.ts). A unit test fails when they are stale.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configJsonSchema, configReference, REFERENCE_FILE, SCHEMA_FILE } from '../src/config/reference.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const schema = configJsonSchema();
writeFileSync(`${root}/${SCHEMA_FILE}`, `${JSON.stringify(schema, null, 2)}\n`);
writeFileSync(`${root}/${REFERENCE_FILE}`, configReference(schema));
console.log(`wrote ${SCHEMA_FILE} and ${REFERENCE_FILE}`);
