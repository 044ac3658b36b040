// Removing a consumer's former self from its group. kafkajs restarts a consumer after a retriable
// crash (a broker restart can cause one: "No broker available") as a *new* member; the old
// member stays in the group until its session expires (`kafka.sessionTimeoutMs`, 30 s by
// default), and the rebalance the new member starts waits for it, so nobody in the group consumes
// meanwhile. Courier asks the coordinator to remove the old member (LeaveGroup) as soon as the
// coordinator answers. kafkajs has no public API for that request: the cluster comes from the
// Kafka instance's own factory (kafkajs 2.x), and when it is not there this does nothing.
import type { Kafka } from 'kafkajs';
import type { Logger } from '../telemetry/logger.ts';

interface GroupCoordinator {
  leaveGroup(request: { groupId: string; memberId: string }): Promise<unknown>;
}

interface KafkajsCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  findGroupCoordinator(request: { groupId: string }): Promise<GroupCoordinator>;
}

type CreateCluster = (options: {
  metadataMaxAge?: number;
  allowAutoTopicCreation?: boolean;
}) => KafkajsCluster;

function clusterFactory(kafka: Kafka): CreateCluster | undefined {
  const key = Object.getOwnPropertySymbols(kafka).find(
    (s) => s.description === 'private:Kafka:createCluster',
  );
  const factory = key === undefined ? undefined : (kafka as unknown as Record<symbol, unknown>)[key];
  return typeof factory === 'function' ? (factory as CreateCluster) : undefined;
}

/**
 * Removes `memberId` from `groupId`, retrying (with the client's retry policy) while the
 * coordinator cannot answer. 'gone' when the coordinator no longer knew the member; 'unsupported'
 * when this kafkajs has no cluster factory.
 */
export async function removeGroupMember(
  kafka: Kafka,
  groupId: string,
  memberId: string,
): Promise<'left' | 'gone' | 'unsupported'> {
  const create = clusterFactory(kafka);
  if (!create) return 'unsupported';
  const cluster = create({ allowAutoTopicCreation: false });
  try {
    await cluster.connect();
    const coordinator = await cluster.findGroupCoordinator({ groupId });
    await coordinator.leaveGroup({ groupId, memberId });
    return 'left';
  } catch (err) {
    const type = (err as { type?: string }).type;
    if (type === 'UNKNOWN_MEMBER_ID' || type === 'GROUP_ID_NOT_FOUND') return 'gone';
    throw err;
  } finally {
    await cluster.disconnect().catch(() => {});
  }
}

/**
 * `removeGroupMember`, tried for about a minute (the coordinator may be loading after a broker
 * restart) until `stopped()` says the process stops; if it never works, the member's session
 * timeout ends the wait as before. Never throws.
 */
export async function removeFormerMember(
  kafka: Kafka,
  member: { groupId: string; memberId: string },
  options: { logger: Logger; stopped: () => boolean; triesForMs?: number },
): Promise<void> {
  const { groupId, memberId } = member;
  const until = Date.now() + (options.triesForMs ?? 60_000);
  while (!options.stopped()) {
    try {
      const result = await removeGroupMember(kafka, groupId, memberId);
      options.logger.info(
        { groupId, memberId, result },
        "a restarted consumer's former member left its group",
      );
      return;
    } catch (err) {
      if (Date.now() > until) {
        options.logger.warn(
          { err, groupId },
          'the former member of a restarted consumer could not be removed; its session will expire',
        );
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 1_000).unref());
    }
  }
}
