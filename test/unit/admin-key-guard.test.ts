/**
 * The admin key guard in isolation: which headers count as presenting the key, and the typed
 * error a refusal raises (the app's exception filter answers 401 from it). The HTTP side is in
 * test/e2e/edge.e2e.test.ts; this file builds a guard inside each test, so a mutation run sees
 * the constructor too.
 */
import type { ExecutionContext } from '@nestjs/common';
import { AdminKeyError, AdminKeyGuard } from '../../src/cache/guards/admin-key.guard.js';

function request(headers: Record<string, string | string[]>): ExecutionContext {
  return {
    switchToHttp: () => ({ getRequest: () => ({ headers }) }),
  } as unknown as ExecutionContext;
}

/** Whether the guard lets a request with these headers through (a refusal must be AdminKeyError). */
function admits(guard: AdminKeyGuard, headers: Record<string, string | string[]>): boolean {
  try {
    return guard.canActivate(request(headers));
  } catch (e) {
    expect(e).toBeInstanceOf(AdminKeyError);
    return false;
  }
}

describe('AdminKeyGuard', () => {
  const guard = (): AdminKeyGuard => new AdminKeyGuard('s3cret-key');

  it('admits the key in X-Admin-Key or as an Authorization Bearer token', () => {
    expect(admits(guard(), { 'x-admin-key': 's3cret-key' })).toBe(true);
    expect(admits(guard(), { 'x-admin-key': ['s3cret-key', 'other'] })).toBe(true);
    expect(admits(guard(), { authorization: 'Bearer s3cret-key' })).toBe(true);
    expect(admits(guard(), { authorization: 'bearer   s3cret-key  ' })).toBe(true);
  });

  it('refuses a wrong key, a missing key and a malformed Authorization header', () => {
    expect(admits(guard(), {})).toBe(false);
    expect(admits(guard(), { 'x-admin-key': 's3cret-kez' })).toBe(false);
    expect(admits(guard(), { 'x-admin-key': 's3cret-key ' })).toBe(false);
    expect(admits(guard(), { authorization: 's3cret-key' })).toBe(false);
    expect(admits(guard(), { authorization: 'Basic s3cret-key' })).toBe(false);
    expect(admits(guard(), { authorization: 'xBearer s3cret-key' })).toBe(false);
    expect(admits(guard(), { authorization: 'Bearer s3cret-key extra' })).toBe(false);
    expect(admits(guard(), { authorization: 'Bearers3cret-key' })).toBe(false);
  });

  it('refuses every call when no admin key is configured: admin routes are off, not open', () => {
    for (const configured of [undefined, '']) {
      const off = new AdminKeyGuard(configured);
      expect(admits(off, {})).toBe(false);
      expect(admits(off, { 'x-admin-key': '' })).toBe(false);
      expect(admits(off, { authorization: 'Bearer undefined' })).toBe(false);
    }
  });

  it('refuses with a typed error carrying a stable code', () => {
    let caught: unknown;
    try {
      guard().canActivate(request({ 'x-admin-key': 'wrong' }));
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(AdminKeyError);
    expect(caught).toMatchObject({
      code: 'ADMIN_KEY_REQUIRED',
      name: 'AdminKeyError',
      message: expect.stringContaining('admin key'),
    });
  });
});
