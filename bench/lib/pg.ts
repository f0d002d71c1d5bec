/** A fresh PostgreSQL database per benchmark row (bench:telemetry, bench:logs). */
import pg from "pg";
import { progress } from "./util.js";

/**
 * A fresh database `tether_bench_<tag>_<pid>` on the server of `adminUrl`, or null when none
 * is reachable (or `adminUrl` is "off"); drop() removes it.
 */
export async function freshPgDatabase(
  adminUrl: string,
  tag: string,
): Promise<{ url: string; drop(): Promise<void> } | null> {
  if (adminUrl === "off") return null;
  const name = `tether_bench_${tag}_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
    await admin.query(`drop database if exists ${name}`);
    await admin.query(`create database ${name}`);
  } catch (err) {
    progress(`PostgreSQL at ${adminUrl} not usable (${(err as Error).message}); its rows are skipped`);
    await admin.end().catch(() => {});
    return null;
  }
  await admin.end();
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}
