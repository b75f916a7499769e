export { createRegistryService, trainingTarget, MODEL_NAME, type RegistryService, type VerifyResult, type RegisterInput, type PromoteInput, type AliasChange, type AliasGuard } from './service.js';
export { createRegistryStore, type RegistryStore } from './store.js';
export { registryRoutes } from './routes.js';
export { manifestSchema, manifestInputSchema, canonicalJson, type Manifest, type ManifestInput } from './manifest.js';
export { createArtifactStore, createDirArtifactStore, createS3ArtifactStore, sha256, type ArtifactStore } from './artifacts/index.js';
export { referenceSchema, REFERENCE_FORMAT, type ReferenceProfile, type FeatureProfile } from './reference.js';
export { promoteRegistered, registrationSummary, unlikeProduction } from './after-register.js';
export { uploadRoute, UPLOAD_FORM, type ProfileReference } from './upload-route.js';
