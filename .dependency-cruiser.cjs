// The floors of src/ (README, Layout): a file may import only from its own floor's room or from a
// floor below, never a sibling stage, never up, never in a circle. `npm run lint` fails on any
// import that breaks them. Unit tests (*.test.ts) are not part of the building.
const BASE = '^src/(config/|policy/|cloudevents/|errors\\.ts$|version\\.ts$|clock\\.ts$|duration\\.ts$)';
const TELEMETRY = '^src/telemetry/';
const GROUND = '^src/(telemetry|kafka|redis)/';
const SERVICES = '^src/(net|credentials|shaping)/';
const STAGES = '^src/(router|delivery|retry|dlq|attempts)/';
const COMPOSITION = '^src/(app\\.ts$|compose/|observability/|reload/|supervisor/)';
const TOP = '^src/(cli/|index\\.ts$)';

const up = (name, from, to, comment) => ({
  name,
  comment,
  severity: 'error',
  from: { path: from, pathNot: '\\.test\\.ts$' },
  to: { path: to },
});

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'A circle of imports: one of them runs the wrong way.',
      severity: 'error',
      from: { path: '^src/', pathNot: '\\.test\\.ts$' },
      to: { circular: true },
    },
    up('base-imports-base-only', BASE, `${GROUND}|${SERVICES}|${STAGES}|${COMPOSITION}|${TOP}`,
      'config/, policy/, errors, version and the clock stand on nothing of Courier above them.'),
    // Inside the base: policy/ (pure decisions) under cloudevents/ (the event, its expressions and
    // shaping) under config/ (the schema, which validates with both).
    up('policy-below-cloudevents-and-config', '^src/policy/', '^src/(cloudevents|config)/',
      'policy/ decides from plain values; it knows neither the event model nor the configuration schema.'),
    up('cloudevents-below-config', '^src/cloudevents/', '^src/config/',
      'cloudevents/ knows no configuration schema: config/ compiles its expressions, not the other way.'),
    up('telemetry-above-base-only', TELEMETRY, '^src/(kafka|redis)/',
      'Logging and the typed pipeline events are the lowest part of the ground.'),
    {
      name: 'kafka-and-redis-apart',
      comment: 'kafka/ and redis/ are rooms of the same floor: neither borrows from the other.',
      severity: 'error',
      from: { path: '^src/(kafka|redis)/', pathNot: '\\.test\\.ts$' },
      to: { path: '^src/(kafka|redis)/', pathNot: '^src/$1/' },
    },
    up('ground-looks-down', GROUND, `${SERVICES}|${STAGES}|${COMPOSITION}|${TOP}`,
      'The ground (telemetry, kafka, redis) knows no service, stage or composition.'),
    up('net-below-credentials', '^src/net/', '^src/credentials/',
      'credentials/ stands on net/ (the SSRF guard, error codes, the dispatcher), not the other way.'),
    up('services-look-down', SERVICES, `${STAGES}|${COMPOSITION}|${TOP}`,
      'Shared services (net, credentials) know no stage.'),
    {
      name: 'stages-apart',
      comment: 'A stage owns the ports it uses; the composition root wires them to another stage.',
      severity: 'error',
      from: { path: STAGES, pathNot: '\\.test\\.ts$' },
      to: { path: STAGES, pathNot: '^src/$1/' },
    },
    up('stages-look-down', STAGES, `${COMPOSITION}|${TOP}`, 'A stage never imports the composition or the CLI.'),
    up('composition-below-top', COMPOSITION, TOP, 'The composition never imports the CLI or the public entry.'),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.test\\.ts$' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
