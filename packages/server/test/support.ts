// Shared by the server's unit tests: an accepted device row inserted straight into the store.
import type { Kysely } from "kysely";
import { nowIso } from "../src/store/db.js";
import type { DB } from "../src/store/schema.js";

export async function insertDevice(db: Kysely<DB>, projectId: number, id: string): Promise<void> {
  await db
    .insertInto("devices")
    .values({
      id,
      project_id: projectId,
      name: id,
      state: "accepted",
      sign_key: `sign-${id}`,
      noise_key: `noise-${id}`,
      fingerprint: `fp-${id}`,
      hostname: `${id}.local`,
      source_address: "127.0.0.1",
      labels: "{}",
      facts: null,
      shard: 0,
      broker_password_hash: null,
      enroll_token_id: null,
      created_at: nowIso(),
      last_seen_at: null,
      online: 0,
      conn_id: null,
      hs_counter: "0",
      down_next_mid: 1,
      up_low: 0,
      up_above: "[]",
    })
    .execute();
}
