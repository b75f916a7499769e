import type * as S3Sdk from '@aws-sdk/client-s3';
import { lazyRequire } from './lazy-require.js';

/** The AWS SDK's S3 client, loaded when an s3:// location is first used (about 0.2 s of start otherwise). */
export const s3Sdk = lazyRequire<typeof S3Sdk>('@aws-sdk/client-s3');
