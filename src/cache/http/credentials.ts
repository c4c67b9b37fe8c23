/**
 * The request headers that carry a caller's identity, lower-case, in the order an identity is
 * taken from them. A request carrying any of them is never answered from another identity's
 * cache entry and never takes the anonymous fast path; responses to it vary on them.
 */
export const CREDENTIAL_HEADERS: readonly string[] = ['authorization', 'x-api-key', 'cookie'];

/** Canonical spelling of each credential header, for `Vary`. */
export const CREDENTIAL_HEADER_NAMES: readonly string[] = ['Authorization', 'X-API-Key', 'Cookie'];

/** True when the request carries any credential header (a non-empty value). */
export function hasCredentials(headers: Record<string, string | string[] | undefined>): boolean {
  return CREDENTIAL_HEADERS.some((h) => {
    const v = headers[h];
    return v !== undefined && v !== '' && !(Array.isArray(v) && v.length === 0);
  });
}
