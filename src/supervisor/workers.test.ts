import assert from 'node:assert/strict';
import { test } from 'node:test';
import { workerHeapFlags } from './workers.ts';

test("a worker's heap is sized to its destinations' windows unless NODE_OPTIONS sizes it", () => {
  const MiB = 1024 * 1024;
  assert.deepEqual(workerHeapFlags([16 * MiB], ''), ['--max-semi-space-size=8', '--max-old-space-size=184']);
  assert.deepEqual(workerHeapFlags([16 * MiB, 16 * MiB, 64 * MiB], ''), [
    '--max-semi-space-size=8',
    '--max-old-space-size=304',
  ]);
  assert.deepEqual(workerHeapFlags([16 * MiB], '--max-old-space-size=4096'), []);
});
