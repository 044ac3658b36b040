import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyHeapGrowing, HEAP_GROWING_PERCENT, workerHeapFlags } from './workers.ts';

test("a worker's heap is sized to its destinations' windows unless NODE_OPTIONS sizes it", () => {
  const MiB = 1024 * 1024;
  assert.deepEqual(workerHeapFlags([16 * MiB], ''), ['--max-semi-space-size=8', '--max-old-space-size=184']);
  assert.deepEqual(workerHeapFlags([16 * MiB, 16 * MiB, 64 * MiB], ''), [
    '--max-semi-space-size=8',
    '--max-old-space-size=304',
  ]);
  assert.deepEqual(workerHeapFlags([16 * MiB], '--max-old-space-size=4096'), ['--max-semi-space-size=8']);
  assert.deepEqual(workerHeapFlags([16 * MiB], '--max-semi-space-size=16'), ['--max-old-space-size=184']);
});

test("the old generation's growing factor is set unless the operator set it", () => {
  assert.equal(applyHeapGrowing('--heap-growing-percent=80', []), undefined);
  assert.equal(applyHeapGrowing('', ['--heap_growing_percent=80']), undefined);
  assert.equal(
    applyHeapGrowing('--max-old-space-size=512', []),
    `--heap-growing-percent=${HEAP_GROWING_PERCENT}`,
  );
});
