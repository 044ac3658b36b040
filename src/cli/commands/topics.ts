// `courier topics`: creates or checks every topic of the configuration (idempotent).
import { ensureTopicsWith } from '../../kafka/admin.ts';
import { createKafka } from '../../kafka/client.ts';
import { topicPlan } from '../../kafka/topics.ts';
import { type CommandContext, printJson } from '../flags.ts';

export async function topics(ctx: CommandContext): Promise<number> {
  const { config, flags } = ctx;
  const report = await ensureTopicsWith(createKafka(config, ctx.logger), topicPlan(config), {
    create: flags.check !== true,
  });
  if (ctx.json) {
    printJson({ created: report.created, verified: report.verified, problems: report.problems });
    return report.problems.length > 0 ? 1 : 0;
  }
  for (const t of report.created) console.log(`created   ${t}`);
  for (const t of report.verified) console.log(`ok        ${t}`);
  for (const p of report.problems) console.log(`MISMATCH  ${p}`);
  console.log(
    `${report.created.length} created, ${report.verified.length} ok, ${report.problems.length} problems`,
  );
  return report.problems.length > 0 ? 1 : 0;
}
