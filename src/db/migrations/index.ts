import type { Migration } from 'kysely';
import type { Dialect } from '../dialect.js';
import { registryMigration } from './001_registry.js';
import { rolloutsMigration } from './002_rollouts.js';
import { accessMigration } from './003_access.js';
import { auditMigration } from './004_audit.js';
import { feedbackMigration } from './005_feedback.js';
import { monitoringMigration } from './006_monitoring.js';
import { webhooksMigration } from './007_webhooks.js';
import { auditWriteCostMigration } from './008_audit_write_cost.js';
import { auditNarrowIndexesMigration } from './009_audit_narrow_indexes.js';
import { armStatsCacheHitsMigration } from './010_arm_stats_cache_hits.js';
import { replacedTokensMigration } from './011_replaced_tokens.js';
import { taskOutcomesMigration } from './012_task_outcomes.js';
import { armStatsScoreSumMigration } from './013_arm_stats_score_sum.js';
import { retrainMigration } from './014_retrain.js';
import { engineChecksMigration } from './015_engine_checks.js';
import { feedbackOrphansMigration } from './016_feedback_orphans.js';
import { webhookSecretRotationMigration } from './017_webhook_secret_rotation.js';
import { rolloutCanaryRevisionMigration } from './018_rollout_canary_revision.js';
import { retrainOneRunningMigration } from './019_retrain_one_running.js';
import { webhookDeliveryHistoryMigration } from './020_webhook_delivery_history.js';
import { webhookOrphanDeadLettersMigration } from './021_webhook_orphan_dead_letters.js';

/** Ordered by name; never edit a migration that has shipped, add the next one. */
export function allMigrations(dialect: Dialect): Record<string, Migration> {
  return {
    '001_registry': registryMigration(dialect),
    '002_rollouts': rolloutsMigration(dialect),
    '003_access': accessMigration(dialect),
    '004_audit': auditMigration(dialect),
    '005_feedback': feedbackMigration(dialect),
    '006_monitoring': monitoringMigration(dialect),
    '007_webhooks': webhooksMigration(dialect),
    '008_audit_write_cost': auditWriteCostMigration(dialect),
    '009_audit_narrow_indexes': auditNarrowIndexesMigration(),
    '010_arm_stats_cache_hits': armStatsCacheHitsMigration(),
    '011_replaced_tokens': replacedTokensMigration(dialect),
    '012_task_outcomes': taskOutcomesMigration(dialect),
    '013_arm_stats_score_sum': armStatsScoreSumMigration(),
    '014_retrain': retrainMigration(dialect),
    '015_engine_checks': engineChecksMigration(dialect),
    '016_feedback_orphans': feedbackOrphansMigration(),
    '017_webhook_secret_rotation': webhookSecretRotationMigration(dialect),
    '018_rollout_canary_revision': rolloutCanaryRevisionMigration(),
    '019_retrain_one_running': retrainOneRunningMigration(),
    '020_webhook_delivery_history': webhookDeliveryHistoryMigration(),
    '021_webhook_orphan_dead_letters': webhookOrphanDeadLettersMigration(),
  };
}
