// `courier pause` and `courier resume`: operator control of a destination, shared by every instance.
import { DestinationControl } from '../../redis/destinationControl.ts';
import { redisKeys } from '../../redis/keys.ts';
import { type CommandContext, commandRedis, destinationOf, printJson } from '../flags.ts';

export async function pauseResume(command: 'pause' | 'resume', ctx: CommandContext): Promise<number> {
  const { config, flags } = ctx;
  const id = destinationOf(config, flags, command);
  const redis = commandRedis(config, ctx.logger);
  try {
    const control = new DestinationControl({ redis, keys: redisKeys(config.kafka.topicPrefix) });
    const was = await control.state(id);
    if (command === 'pause') {
      await control.pause(id, 'operator');
      if (ctx.json) printJson({ destination: id, paused: true, reason: 'operator', was });
      else console.log(`paused ${id} on every instance`);
    } else {
      await control.resume(id);
      if (ctx.json) printJson({ destination: id, paused: false, was });
      else console.log(was.paused ? `resumed ${id} (was paused: ${was.reason})` : `${id} was not paused`);
    }
    return 0;
  } finally {
    redis.disconnect();
  }
}
