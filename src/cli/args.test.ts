// Per-verb parsing: flags of another verb, missing values and stray arguments are one-line
// usage errors; help lists the verb's own flags.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../errors.ts';
import { parseVerbArgs, synopsis, type VerbSpec, verbHelp } from './args.ts';

const resume: VerbSpec = {
  name: 'resume',
  summary: 'resume a destination',
  flags: { destination: { type: 'string', short: 'd', value: 'ID', description: 'd', required: true } },
};
const inspect: VerbSpec = {
  name: 'inspect',
  summary: 'one event',
  args: [{ name: 'EVENT_ID', description: 'id', required: true }],
  flags: { json: { type: 'boolean', description: 'json' } },
};

function usageError(spec: VerbSpec, argv: string[]): string {
  try {
    parseVerbArgs(spec, argv);
  } catch (err) {
    assert.ok(err instanceof UsageError, `expected UsageError, got ${String(err)}`);
    assert.ok(!err.message.includes('\n'), 'one line');
    return err.message;
  }
  assert.fail(`expected ${argv.join(' ')} to be refused`);
}

test('flags parse per verb, with short forms, inline values and the common flags', () => {
  assert.deepEqual(parseVerbArgs(resume, ['-d', 'crm', '--config', 'c.yaml']), {
    flags: { destination: 'crm', config: 'c.yaml' },
    args: [],
  });
  assert.deepEqual(parseVerbArgs(resume, ['--destination=crm', '--debug']).flags, {
    destination: 'crm',
    debug: true,
  });
  assert.deepEqual(parseVerbArgs(inspect, ['ev-1', '--json']), { flags: { json: true }, args: ['ev-1'] });
  assert.deepEqual(parseVerbArgs(resume, ['--help']).flags, { help: true }, 'help skips required checks');
  assert.deepEqual(parseVerbArgs(resume, ['--dry-run', '-h']).flags, { help: true }, 'help wins');
});

test('a flag of another verb, a missing value, a stray argument are usage errors', () => {
  assert.equal(usageError(resume, ['--destination', 'x', '--dry-run']), 'resume does not take --dry-run');
  assert.equal(usageError(resume, ['-x']), 'resume does not take -x');
  assert.equal(usageError(resume, ['--destination']), '--destination needs a value (ID)');
  assert.equal(usageError(resume, ['--destination', '--debug']), '--destination needs a value (ID)');
  assert.equal(usageError(resume, ['--debug=yes', '-d', 'x']), '--debug takes no value');
  assert.equal(usageError(resume, []), 'resume needs --destination ID');
  assert.equal(usageError(resume, ['-d', 'x', 'extra']), 'resume takes no argument "extra"');
  assert.equal(usageError(inspect, []), 'inspect needs EVENT_ID');
});

test("help shows the verb's synopsis and flags only", () => {
  assert.equal(synopsis(resume), 'courier resume --destination ID [--config PATH]');
  const help = verbHelp(resume);
  assert.match(help, /^usage: courier resume --destination ID/);
  assert.match(help, /-d, --destination ID\s+d \(required\)/);
  assert.match(help, /-h, --help/);
  assert.doesNotMatch(help, /--dry-run|--roles/);
});

test('a flag that may be repeated keeps every value in order; another given twice is refused', () => {
  const spec: VerbSpec = {
    name: 'replay',
    summary: 'r',
    flags: {
      event: { type: 'string', value: 'ID', description: 'e', multiple: true },
      rate: { type: 'string', value: 'N', description: 'r' },
    },
  };
  assert.deepEqual(parseVerbArgs(spec, ['--event', 'a', '--event', 'b,c', '--event=d']).flags.event, [
    'a',
    'b,c',
    'd',
  ]);
  assert.equal(usageError(spec, ['--rate', '1', '--rate', '2']), '--rate is given twice; it takes one value');
});
