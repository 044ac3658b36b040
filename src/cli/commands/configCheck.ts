// `courier config check`: loads the configuration as `courier run` would (file, ${ENV}
// substitution, environment overrides, defaults) and prints it resolved, with every secret
// masked; or lists every problem, by path. Connects to nothing.
import { stringify } from 'yaml';
import { configFilePath, loadConfig } from '../../config/load.ts';
import { maskSecrets } from '../../config/mask.ts';
import { ConfigError } from '../../errors.ts';

export function configCheck(options: { path?: string; json: boolean }): number {
  const source = configFilePath(options.path === undefined ? {} : { path: options.path });
  try {
    const config = loadConfig({ path: source });
    if (options.json) {
      console.log(JSON.stringify({ valid: true, source, config: maskSecrets(config) }, null, 2));
    } else {
      console.log(
        `# ${source}: valid; resolved configuration, secrets masked\n${stringify(maskSecrets(config))}`,
      );
    }
    return 0;
  } catch (err) {
    if (!(err instanceof ConfigError) || !options.json) throw err;
    console.log(JSON.stringify({ valid: false, source, problems: err.problems }, null, 2));
    return 1;
  }
}
