// Jest global teardown (plain ESM): see global-setup.mjs.
import { register } from 'tsx/esm/api';

export default async function globalTeardown(...args) {
  register();
  const { default: teardown } = await import('./redis-teardown.ts');
  return teardown(...args);
}
