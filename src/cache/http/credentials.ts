/** The credential headers as written in responses, in the order an identity is taken from them. */
const CREDENTIAL_HEADER_NAMES = ['Authorization', 'X-API-Key', 'Cookie'] as const;

/**
 * The request headers that carry a caller's identity, lower-case, in the order an identity is
 * taken from them. A request carrying any of them is cached per identity and never takes the
 * anonymous fast path.
 */
export const CREDENTIAL_HEADERS: readonly string[] = CREDENTIAL_HEADER_NAMES.map((name) =>
  name.toLowerCase(),
);

/** The credential headers as a cached route's `Vary` lists them: alphabetical (`Authorization, Cookie, X-API-Key`). */
export const CREDENTIAL_VARY: string = [...CREDENTIAL_HEADER_NAMES].sort().join(', ');
