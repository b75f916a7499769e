/** A host as a URL writes it: an IPv6 address in brackets (`[::1]`), anything else as it is. */
export const urlHost = (host: string): string => (host.includes(':') && !host.startsWith('[') ? `[${host}]` : host);
