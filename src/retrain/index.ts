export { createRetrainService, type RetrainService, type RetrainResult, type RetrainPlan, type RetrainInput } from './service.js';
