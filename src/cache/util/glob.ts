/**
 * Compiles a Redis-style glob (`*`, `?`, `[abc]`, `[^a]`, `[a-z]`, `\x` escapes) to a RegExp,
 * for stores that match keys themselves (MemoryStore, FileStore).
 */
export function globToRegExp(pattern: string): RegExp {
  let out = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\' && i + 1 < pattern.length) {
      out += escapeRe(pattern[++i]);
    } else if (c === '*') {
      out += '[\\s\\S]*';
    } else if (c === '?') {
      out += '[\\s\\S]';
    } else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) {
        out += '\\[';
        continue;
      }
      let body = pattern.slice(i + 1, end);
      const negate = body.startsWith('^');
      if (negate) body = body.slice(1);
      out += '[' + (negate ? '^' : '') + body.replace(/[\]\\]/g, '\\$&') + ']';
      i = end;
    } else {
      out += escapeRe(c);
    }
  }
  return new RegExp(out + '$');
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
