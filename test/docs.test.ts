// The documentation holds together: every relative link in README.md, CONTRIBUTING.md, bench/ and
// docs/ resolves (to a file, and to a heading when it names one), the README stays short enough to
// read to the end, and the observability page lists every metric Courier registers.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { CourierMetrics } from '../src/observability/metrics.ts';

const ROOT = resolve(new URL('..', import.meta.url).pathname);

function markdownFiles(): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? walk(path) : name.endsWith('.md') ? [path] : [];
    });
  return [
    join(ROOT, 'README.md'),
    join(ROOT, 'CONTRIBUTING.md'),
    join(ROOT, 'CONFIGURATION.md'),
    join(ROOT, 'bench', 'README.md'),
    ...walk(join(ROOT, 'docs')),
  ];
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to dashes. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1] as string)));
}

/** Relative links outside code: [text](target), target not a URL. */
function linksOf(file: string): string[] {
  const text = readFileSync(file, 'utf8')
    .replace(/```[\s\S]*?```/g, '')
    .replace(/`[^`\n]*`/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1] as string)
    .filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target));
}

test('every relative link in the README and docs resolves, to a heading when it names one', () => {
  const broken: string[] = [];
  let checked = 0;
  for (const file of markdownFiles()) {
    for (const link of linksOf(file)) {
      checked++;
      const [path = '', anchor] = link.split('#');
      const target = path === '' ? file : resolve(dirname(file), path);
      const where = `${relative(ROOT, file)} → ${link}`;
      if (!existsSync(target)) {
        broken.push(`${where}: no such file`);
        continue;
      }
      if (anchor && target.endsWith('.md') && !anchorsOf(target).has(anchor)) {
        broken.push(`${where}: no heading #${anchor}`);
      }
    }
  }
  assert.ok(checked >= 20, `links were found (${checked})`);
  assert.deepEqual(broken, []);
});

test('the README is one a newcomer reads to the end (at most 250 lines), and maps every page of docs/', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  assert.ok(readme.split('\n').length <= 250, `README.md has ${readme.split('\n').length} lines`);
  const linked = new Set(
    linksOf(join(ROOT, 'README.md')).map((l) => resolve(ROOT, l.split('#')[0] as string)),
  );
  const pages = markdownFiles().filter((f) => f.startsWith(join(ROOT, 'docs')));
  assert.deepEqual(
    pages.filter((p) => !linked.has(p)).map((p) => relative(ROOT, p)),
    [],
    'every page of docs/ is in the README map',
  );
});

test('the observability page lists every metric Courier registers', async () => {
  const page = readFileSync(join(ROOT, 'docs', 'observability.md'), 'utf8');
  const metrics = new CourierMetrics({ processMetrics: false });
  metrics.registerDestination('d');
  const names = (await metrics.registry.getMetricsAsJSON()).map((m) => m.name);
  assert.ok(names.length > 10);
  assert.deepEqual(
    names.filter((n) => !page.includes(`\`${n}\``)),
    [],
    'metrics missing from docs/observability.md',
  );
});
