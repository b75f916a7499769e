export { generateHotelBookings, HOTEL_CATEGORICAL, HOTEL_NUMERIC } from './synthetic-hotel.js';
export { trainLogisticRegression, type TrainResult, type TrainOptions } from './train-logreg.js';
export { fitLogisticRegression, predictProba, choleskySolve, type LogRegModel } from './logreg.js';
export { rocAuc, logLoss, brier, bestThreshold, type CostMatrix } from './evaluate.js';
export { rowPayload, splitEvery, type Dataset } from './dataset.js';
export { fitPreprocessor, transformRow, type Preprocessor } from './preprocess.js';
export { predictTrees, exportTrees, syntheticEnsemble, type TreeEnsemble, type TreeNode } from './trees.js';
