// The config watcher on a real directory: an editor's rename, a Kubernetes ConfigMap's `..data`
// symlink swap, and a touch that changes nothing.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { ConfigWatcher } from './watcher.ts';

const quiet = pino({ level: 'silent' });

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('a rename over the file is one change; rewriting the same content is none', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'watch-'));
  const path = join(dir, 'courier.yaml');
  writeFileSync(path, 'a: 1\n');
  let changes = 0;
  const watcher = new ConfigWatcher({
    path,
    logger: quiet,
    onChange: () => changes++,
    debounceMs: 20,
    pollMs: 50,
  });
  watcher.start();
  try {
    writeFileSync(join(dir, 'next'), 'a: 2\n');
    renameSync(join(dir, 'next'), path);
    await until(() => changes === 1, 'the change');
    writeFileSync(path, 'a: 2\n');
    utimesSync(path, new Date(), new Date());
    // A look after the rewrite (what its directory event and every poll do): no change, the
    // content is the same; whenever the event's own look runs, it sees the same.
    assert.equal(watcher.look(), false);
    assert.equal(changes, 1);
  } finally {
    watcher.stop();
  }
});

test("a ConfigMap update: the kubelet swaps the `..data` symlink; the file's own path never changes", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'configmap-'));
  const v1 = join(dir, '..2026_12_01_00_00_00.1');
  mkdirSync(v1);
  writeFileSync(join(v1, 'courier.yaml'), 'version: 1\n');
  symlinkSync('..2026_12_01_00_00_00.1', join(dir, '..data'));
  symlinkSync('..data/courier.yaml', join(dir, 'courier.yaml'));
  const seen: number[] = [];
  let n = 0;
  const watcher = new ConfigWatcher({
    path: join(dir, 'courier.yaml'),
    logger: quiet,
    onChange: () => seen.push(++n),
    debounceMs: 20,
    // The poll is the backstop; here the directory watch must be what sees it.
    pollMs: 60_000,
  });
  watcher.start();
  try {
    const v2 = join(dir, '..2026_12_01_00_05_00.2');
    mkdirSync(v2);
    writeFileSync(join(v2, 'courier.yaml'), 'version: 2\n');
    symlinkSync('..2026_12_01_00_05_00.2', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    await until(() => seen.length === 1, 'the swap');
  } finally {
    watcher.stop();
  }
});

test('a secret file the configuration reads through ${file:…} is watched as well', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'watch-secret-'));
  const secrets = mkdtempSync(join(tmpdir(), 'secrets-'));
  const secret = join(secrets, 'signing');
  writeFileSync(secret, 'whsec_one\n');
  const path = join(dir, 'courier.yaml');
  writeFileSync(path, `secret: "\${file:${secret}}"\n`);
  let changes = 0;
  const watcher = new ConfigWatcher({
    path,
    logger: quiet,
    onChange: () => changes++,
    debounceMs: 20,
    pollMs: 60_000,
  });
  watcher.start();
  try {
    writeFileSync(`${secret}.new`, 'whsec_two\n');
    renameSync(`${secret}.new`, secret);
    await until(() => changes === 1, 'the rotated secret file');
  } finally {
    watcher.stop();
  }
});
