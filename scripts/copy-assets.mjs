// Build step after tsc: copies every `lua` folder under src/ (Redis scripts, loaded at run time
// from beside the module that uses them) to the same place under dist/, and makes the CLI
// executable. Generic, so moving the scripts needs no change here.
import { chmodSync, cpSync, globSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = join(root, 'src');
const dist = join(root, 'dist');

for (const dir of globSync('**/lua', { cwd: src })) {
  const target = join(dist, dir);
  rmSync(target, { recursive: true, force: true });
  cpSync(join(src, dir), target, { recursive: true });
  console.log(`copied ${relative(root, join(src, dir))} -> ${relative(root, target)}`);
}
chmodSync(join(dist, 'cli', 'main.js'), 0o755);
