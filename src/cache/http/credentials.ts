/**
 * The request headers that carry a caller's identity, lower-case, in the order an identity is
 * taken from them. A request carrying any of them is cached per identity and never takes the
 * anonymous fast path.
 */
export const CREDENTIAL_HEADERS: readonly string[] = ['authorization', 'x-api-key', 'cookie'];
