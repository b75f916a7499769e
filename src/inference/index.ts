export { inspectGraph, exposeZipMapSource, type GraphInfo } from './onnx-graph.js';
export {
  deriveContract,
  withClosedCategories,
  contractSchema,
  outputSchema,
  CONTRACT_VERSION,
  SUPPORTED_CONTRACT_VERSIONS,
  type Contract,
  type OutputSpec,
  type Feature,
  type Task,
  type ClassLabel,
  TASKS,
  taskSchema,
  taskOf,
  positiveClassOf,
} from './contract.js';
export { contractChange, describeContractChange, refuseTakingNone, takesNone, type ContractChange } from './contract-change.js';
export {
  policySchema,
  parsePolicyFlag,
  compilePolicy,
  checkPolicy,
  defaultPolicy,
  describePolicy,
  decisionsDiffer,
  actionDecisions,
  policyDecisions,
  policyFlag,
  DEFAULT_POLICY,
  type Policy,
} from './policy.js';
export { type Outcome, type PresentedOutcome } from './outcome.js';
export { Servable, smokeTest, type ServableSpec, type RuntimeOptions, type EngineInfo } from './servable.js';
export type { EngineName, EngineChoice } from './engine.js';
export { LOADS_AT_ONCE, ModelPool, type RegistrySource, type PoolEvents, type RolloutPlan, type Arm } from './pool.js';
export { MicroBatcher, RunGate, type RunTiming } from './batcher.js';
export { OffThreadScorer } from './off-thread-scorer.js';
export { openReferenceOffThread } from './off-thread-reference.js';
export { inferenceRoutes } from './routes.js';
export type { InferenceMetrics, ArmObserver, PredictionSink, ScoredPrediction, ShadowRequest } from './scoring.js';
export { CanaryRouter, hashBucket, BUCKETS } from './router.js';
export type { Row } from './encoder.js';
export { PredictionCache, cacheKey } from './cache.js';
export { UnseenCategories, type UnseenSummary } from './unseen-category.js';
