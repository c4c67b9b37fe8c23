// Jest global setup (plain ESM): loads the TypeScript harness through tsx's loader, since
// jest's own transform does not reach modules imported by a global setup in ESM mode.
import { register } from 'tsx/esm/api';

export default async function globalSetup(...args) {
  register();
  const { default: setup } = await import('./redis-setup.ts');
  return setup(...args);
}
