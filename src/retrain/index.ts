export { createRetrainService, type RetrainService, type RetrainResult, type RetrainPlan, type RetrainInput } from './service.js';
export { planDataWarning } from './plan-data.js';
export { retrainRoutes } from './routes.js';
export { runActor, runWhy } from './describe-run.js';
