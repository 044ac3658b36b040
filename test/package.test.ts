// The npm package as a user gets it: `npm pack` (whose prepack runs the build) yields a tarball
// with the compiled library, its type declarations, the Redis Lua scripts beside the client that
// loads them and the Avro schema; unpacked next to the project's dependencies, the `courier` bin
// runs with plain `node`, the entry exports what src/index.ts does, and a TypeScript consumer
// type-checks against the declarations. Nothing is published.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { globSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
// Under .stack/ (ignored by git) so that the unpacked package finds the project's node_modules.
const WORK = join(ROOT, '.stack', `pack-test-${process.pid}`);

function run(cmd: string, args: string[], cwd = ROOT) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(cmd, args, { cwd, timeout: 240_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

after(() => rmSync(WORK, { recursive: true, force: true }));

test('npm pack builds a tarball whose library, types, Lua scripts and bin work', async () => {
  mkdirSync(WORK, { recursive: true });
  const packed = await run('npm', ['pack', '--json', '--pack-destination', WORK]);
  assert.equal(packed.code, 0, packed.stderr);
  // Lifecycle output (the build) comes first on stdout; the JSON report is the rest.
  const [report] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('[\n'))) as Array<{
    name: string;
    filename: string;
    files: Array<{ path: string }>;
  }>;
  assert.ok(report);
  assert.equal(report.name, 'kafka-courier');
  const files = new Set(report.files.map((f) => f.path));
  for (const path of ['dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'schemas/cloudevent.avsc']) {
    assert.ok(files.has(path), `${path} is in the tarball`);
  }
  const luaSources = globSync('src/**/lua/*.lua', { cwd: ROOT });
  assert.ok(luaSources.length > 0);
  for (const lua of luaSources) {
    const path = lua.replace(/^src\//, 'dist/');
    assert.ok(files.has(path), `${path} is in the tarball`);
  }
  assert.ok(![...files].some((f) => f.startsWith('src/') || f.startsWith('test/')), 'no sources or tests');
  assert.ok(![...files].some((f) => f.endsWith('.test.js')), 'no compiled tests');

  const pkgDir = join(WORK, 'node_modules', 'kafka-courier');
  mkdirSync(pkgDir, { recursive: true });
  const untar = await run('tar', ['xzf', join(WORK, report.filename), '-C', pkgDir, '--strip-components=1']);
  assert.equal(untar.code, 0, untar.stderr);

  const main = join(pkgDir, 'dist', 'cli', 'main.js');
  assert.equal(
    readFileSync(main, 'utf8').split('\n')[0],
    '#!/usr/bin/env node',
    'a shebang without Node flags',
  );
  const version = await run(process.execPath, [main, '--version']);
  assert.equal(version.code, 0, version.stderr);
  assert.equal(version.stdout.trim(), JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
  assert.equal(version.stderr, '', 'nothing on stderr');

  const built = await import(pathToFileURL(join(pkgDir, 'dist', 'index.js')).href);
  const source = await import('../src/index.ts');
  assert.deepEqual(Object.keys(built).sort(), Object.keys(source).sort());

  writeFileSync(
    join(WORK, 'consumer.ts'),
    [
      "import { type AttemptRecord, CourierApp, createLogger, parseConfig } from 'kafka-courier';",
      "const config = parseConfig({ kafka: { brokers: ['k:9092'] } }, { source: 'x' });",
      'const app = new CourierApp({ config, logger: createLogger() });',
      "app.events.on('attempt', (a: AttemptRecord) => a.eventId.length);",
      'export const brokers: string[] = config.kafka.brokers;',
      '',
    ].join('\n'),
  );
  writeFileSync(join(WORK, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  const tsc = await run(
    process.execPath,
    [
      join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
      '--noEmit',
      '--strict',
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--types',
      'node',
      '--typeRoots',
      join(ROOT, 'node_modules', '@types'),
      'consumer.ts',
    ],
    WORK,
  );
  assert.equal(tsc.code, 0, `a TypeScript consumer type-checks: ${tsc.stdout}${tsc.stderr}`);
});
