// `courier status`: every destination's state at a glance. Placeholder until the status
// report lands (another change replaces this file).
import type { CourierConfig } from '../config/schema.ts';

export async function status(_config: CourierConfig, _options: { json: boolean }): Promise<number> {
  console.error('status: not implemented');
  return 1;
}
