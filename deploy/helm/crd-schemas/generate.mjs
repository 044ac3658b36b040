// Makes kubeconform schemas from CRD manifests: for each served version of each CRD given, its
// openAPIV3Schema as a JSON schema at <group>/<kind>_<version>.json, strict (no property the CRD
// does not declare, unless it preserves unknown fields), as openapi2jsonschema does.
// Usage: node generate.mjs <crd.yaml>...   (sources: README.md)
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

const here = dirname(fileURLToPath(import.meta.url));

function strict(schema) {
  if (!schema || typeof schema !== 'object') return schema;
  const out = Array.isArray(schema) ? schema.map(strict) : { ...schema };
  if (Array.isArray(out)) return out;
  for (const [k, v] of Object.entries(out)) if (v && typeof v === 'object') out[k] = strict(v);
  if (out.properties && out.additionalProperties === undefined && !out['x-kubernetes-preserve-unknown-fields'])
    out.additionalProperties = false;
  return out;
}

for (const file of process.argv.slice(2)) {
  for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
    const crd = doc.toJSON();
    if (crd?.kind !== 'CustomResourceDefinition') continue;
    const { group, names } = crd.spec;
    for (const v of crd.spec.versions.filter((x) => x.served)) {
      const schema = strict(v.schema.openAPIV3Schema);
      // apiVersion and kind are set by every object.
      schema.properties.apiVersion = { type: 'string', enum: [`${group}/${v.name}`] };
      schema.properties.kind = { type: 'string', enum: [names.kind] };
      const target = join(here, group, `${names.kind.toLowerCase()}_${v.name}.json`);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, `${JSON.stringify(schema, null, 1)}\n`);
      console.log(`${file} -> ${target}`);
    }
  }
}
