import { errorMessage } from './errors.js';

/** What the AWS SDK's error says of S3's answer: its error code (the XML's Code) and HTTP status. */
function s3Answer(e: unknown): { name?: string; status?: number } {
  const err = e as { name?: unknown; Code?: unknown; $metadata?: { httpStatusCode?: unknown } } | undefined;
  const name = typeof err?.Code === 'string' ? err.Code : typeof err?.name === 'string' ? err.name : undefined;
  const status = typeof err?.$metadata?.httpStatusCode === 'number' ? err.$metadata.httpStatusCode : undefined;
  return { ...(name ? { name } : {}), ...(status ? { status } : {}) };
}

/** S3 refused this identity (403): the SDK names it AccessDenied, or only by status for a HEAD. */
export const isS3AccessDenied = (e: unknown): boolean => {
  const { name, status } = s3Answer(e);
  return name === 'AccessDenied' || (status === 403 && (name === undefined || name === 'Forbidden' || name === '403'));
};

/**
 * What S3 refused, with what to grant or correct, for the objects `objects` names (a key, or a
 * prefix and `/*`); undefined for anything else. The SDK's words alone ("Access Denied", "The
 * specified bucket does not exist") name neither the permission nor that, for an identity that may
 * not list the bucket, S3 answers a missing object with Access Denied rather than 404.
 */
export function s3Refusal(e: unknown, at: { bucket: string; objects: string }, need: 'read' | 'write'): string | undefined {
  const { name } = s3Answer(e);
  if (name === 'NoSuchBucket') return `the bucket ${at.bucket} does not exist there: create it, or correct the bucket's name (and S3_ENDPOINT or S3_REGION if it is elsewhere)`;
  if (!isS3AccessDenied(e)) return undefined;
  const arn = `arn:aws:s3:::${at.bucket}/${at.objects}`;
  // S3's own words kept: AWS says which identity and action, or that a KMS key (kms:Decrypt) refused.
  const said = errorMessage(e).replace(/\.$/, '') || 'Access Denied';
  if (need === 'write') return `S3 refused to let this identity write (${said}): grant it s3:PutObject on ${arn}`;
  return `S3 refused to let this identity read (${said}): grant it s3:GetObject on ${arn}; without s3:ListBucket on arn:aws:s3:::${at.bucket}, S3 also answers Access Denied for an object that does not exist`;
}
