// The Helm chart (deploy/helm/courier), offline: `deploy/helm/check.sh` lints it, renders the
// default, split and HPA layouts with every optional object on, and validates every object with
// kubeconform -strict (Kubernetes, KEDA and Prometheus Operator schemas). Its PrometheusRule is
// the alert rules Courier ships, kept equal here; its ConfigMap never holds a secret.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

const ROOT = new URL('..', import.meta.url).pathname;

test("the chart's PrometheusRule is the alert rules Courier ships, byte for byte", () => {
  assert.equal(
    readFileSync(`${ROOT}deploy/helm/courier/files/prometheus-rules.yaml`, 'utf8'),
    readFileSync(`${ROOT}observability/prometheus-rules.yaml`, 'utf8'),
    'copy observability/prometheus-rules.yaml to deploy/helm/courier/files/',
  );
});

test('helm lint, helm template (default, split, HPA) and kubeconform -strict pass', {
  timeout: 900_000,
}, async () => {
  const { code, output } = await new Promise<{ code: number; output: string }>((resolve) => {
    execFile(
      'bash',
      [`${ROOT}deploy/helm/check.sh`],
      { timeout: 900_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, output: stdout + stderr }),
    );
  });
  assert.equal(code, 0, output);
  assert.match(output, /Summary: (\d+) resources? found .* Valid: \1, Invalid: 0, Errors: 0, Skipped: 0/);
  assert.match(output, /split: \d+ objects/);
  assert.match(output, /a broken value is refused: at '\/layout'/);
});
