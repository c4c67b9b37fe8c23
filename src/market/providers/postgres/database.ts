/** Create/drop helpers for the PostgreSQL source's database (used by the seed CLI, tests and bench). */
import { Client } from 'pg';

/** Default connection string of the seeded source database. */
export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/market_cache';

/** Double-quotes an SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The database name of a connection string (`postgres` when absent). */
export function databaseName(connectionString: string): string {
  const name = decodeURIComponent(new URL(connectionString).pathname.replace(/^\//, ''));
  return name || 'postgres';
}

/** The same server's maintenance database (`postgres`), for CREATE/DROP DATABASE. */
export function maintenanceUrl(connectionString: string): string {
  const url = new URL(connectionString);
  url.pathname = '/postgres';
  return url.toString();
}

/** Creates the connection string's database when missing; answers true when it created it. */
export async function ensureDatabase(
  connectionString: string,
  connectTimeoutMs = 5000,
): Promise<boolean> {
  const name = databaseName(connectionString);
  const admin = new Client({
    connectionString: maintenanceUrl(connectionString),
    connectionTimeoutMillis: connectTimeoutMs,
  });
  await admin.connect();
  try {
    const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount) return false;
    try {
      await admin.query(`CREATE DATABASE ${quoteIdent(name)}`);
    } catch (err) {
      // Another process may have created it between the check and the CREATE.
      if ((err as { code?: string }).code !== '42P04') throw err;
      return false;
    }
    return true;
  } finally {
    await admin.end();
  }
}

/** Drops the connection string's database if it exists (terminating its other sessions). */
export async function dropDatabase(
  connectionString: string,
  connectTimeoutMs = 5000,
): Promise<void> {
  const name = databaseName(connectionString);
  const admin = new Client({
    connectionString: maintenanceUrl(connectionString),
    connectionTimeoutMillis: connectTimeoutMs,
  });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}
