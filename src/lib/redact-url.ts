/** A URL with the password in its user part replaced by ***: safe to print and log. */
export function redactUrl(url: string): string {
  return url.replace(/:\/\/([^:@/]*):[^@/]*@/, '://$1:***@');
}
