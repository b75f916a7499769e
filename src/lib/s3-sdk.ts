import type * as S3Sdk from '@aws-sdk/client-s3';
import { lazyRequire } from './lazy-require.js';

/**
 * The AWS SDK's S3 client, loaded when an s3:// location is first used (about 0.2 s of start
 * otherwise). On Node 20 the SDK prints a nine-line notice, on every command that touches S3,
 * that its releases after January 2027 will need Node 22: the release package-lock.json pins
 * is the one modelgate runs and supports on Node 20, and an operator cannot act on the notice,
 * so it is off unless AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED is set otherwise.
 */
export const s3Sdk = lazyRequire<typeof S3Sdk>('@aws-sdk/client-s3', () => {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
});
