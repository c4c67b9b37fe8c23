import { isIP } from 'node:net';

/** Width of the IPv6 prefix a client is counted by: one /64 is one subscriber's network. */
export const IPV6_CLIENT_PREFIX_BITS = 64;

/** The eight 16-bit groups of an IPv6 address (an embedded IPv4 tail included), or undefined. */
function hextetsOf(address: string): number[] | undefined {
  let text = address.toLowerCase();
  const tail = text.slice(text.lastIndexOf(':') + 1);
  if (tail.includes('.')) {
    const o = tail.split('.').map(Number);
    text = `${text.slice(0, text.length - tail.length)}${((o[0]! << 8) | o[1]!).toString(16)}:${((o[2]! << 8) | o[3]!).toString(16)}`;
  }
  const [head, rest] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = rest ? rest.split(':') : [];
  const fill = rest === undefined ? 0 : 8 - left.length - right.length;
  const groups = [...left, ...Array<string>(Math.max(0, fill)).fill('0'), ...right];
  return groups.length === 8 ? groups.map((g) => parseInt(g, 16)) : undefined;
}

/**
 * The address a client is counted under: an IPv4 address as is (also when IPv4-mapped,
 * `::ffff:1.2.3.4`), `::1` for the IPv6 loopback, any other IPv6 address as its /64
 * (`2001:db8:0:1::/64`: one subscriber holds a whole /64 and could rotate within it), and
 * `unknown` when there is none (a socket already gone).
 */
export function clientAddressOf(ip: string | undefined): string {
  if (!ip) return 'unknown';
  const bare = ip.split('%')[0]!;
  const version = isIP(bare);
  if (version === 4) return bare;
  if (version !== 6) return ip;
  const h = hextetsOf(bare);
  if (!h) return bare;
  if (h.slice(0, 5).every((x) => x === 0) && h[5] === 0xffff)
    return [h[6]! >> 8, h[6]! & 0xff, h[7]! >> 8, h[7]! & 0xff].join('.');
  if (h.slice(0, 7).every((x) => x === 0) && h[7] === 1) return '::1';
  // The network's groups without its trailing zero groups: `2001:db8:0:1::/64`, `fe80::/64`.
  const network = h.slice(0, IPV6_CLIENT_PREFIX_BITS / 16);
  while (network.length > 0 && network[network.length - 1] === 0) network.pop();
  return `${network.map((x) => x.toString(16)).join(':')}::/${IPV6_CLIENT_PREFIX_BITS}`;
}

/** Path prefixes the anonymous throttle never counts: probes and scrapes. */
export const THROTTLE_EXCLUDED_PATHS: readonly string[] = ['/health', '/metrics'];

/** True when `path` (without query) is one of `THROTTLE_EXCLUDED_PATHS` or below one, in any case (Express routes case-insensitively). */
export function isThrottleExcluded(path: string): boolean {
  const p = path.toLowerCase();
  return THROTTLE_EXCLUDED_PATHS.some((x) => p === x || p === `${x}/` || p.startsWith(`${x}/`));
}
