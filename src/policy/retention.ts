// When a message held on a destination topic is at risk of Kafka's retention deleting it: past a
// share of the topic's retention. The actor's warning and the `retention-risk` alert both ask
// here. Pure.

/** The share of the retention from which a held message is at risk (warned and alerted about). */
export const RETENTION_RISK_SHARE = 0.5;

export function atRetentionRisk(ageMs: number, retentionMs: number): boolean {
  return ageMs >= retentionMs * RETENTION_RISK_SHARE;
}
