export { createRolloutService, type RolloutService, type StartCanaryInput } from './service.js';
export { createRolloutStore, type RolloutStore, type Rollout } from './store.js';
export { createLeader, type Leader } from './leader.js';
export { RolloutRuntime } from './runtime.js';
export { rolloutRoutes } from './routes.js';
export { analyse, analysisSchema, type AnalysisRules, type Verdict } from './analysis.js';
export { ArmRecorder, emptyCounts, type ArmCounts } from './stats.js';
export { describeChanges, describeRolloutEvent, type RolloutEvent } from './describe-event.js';
export { describeRules } from './describe-rules.js';
