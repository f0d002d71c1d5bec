/** Table shapes for the query layer. Times are ISO-8601 UTC strings; booleans are 0/1 (portable). */
import type { Generated } from "kysely";

export interface UsersTable {
  id: Generated<number>;
  username: string;
  password_hash: string;
  created_at: string;
  /** Where a sign-in lands when it names no project (the user's choice); null: the first by name. */
  default_project_id: number | null;
}
export interface ProjectsTable {
  id: Generated<number>;
  name: string;
  created_at: string;
}
export interface MembershipsTable {
  user_id: number;
  project_id: number;
  role: string;
}
export interface ApiTokensTable {
  id: Generated<number>;
  name: string;
  user_id: number;
  project_id: number;
  token_hash: string;
  created_at: string;
  last_used_at: string | null;
  /** Refused from this time on; null: no expiry. */
  expires_at: string | null;
}
export interface SessionsTable {
  id_hash: string;
  user_id: number;
  project_id: number;
  created_at: string;
  expires_at: string;
}
export interface EnrollmentTokensTable {
  id: Generated<number>;
  project_id: number;
  secret_hash: string;
  labels: string;
  uses_left: number;
  uses: number;
  auto_accept: number;
  expires_at: string;
  created_at: string;
  created_by: string;
}
export interface DevicesTable {
  id: string;
  project_id: number;
  name: string;
  state: string;
  sign_key: string;
  noise_key: string;
  fingerprint: string;
  hostname: string;
  source_address: string;
  labels: string;
  facts: string | null;
  shard: number;
  broker_password_hash: string | null;
  enroll_token_id: number | null;
  created_at: string;
  last_seen_at: string | null;
  online: number;
  /** When the current control connection began; null while offline. */
  online_since: string | null;
  conn_id: string | null;
  /** Last accepted handshake counter, as a decimal string (uint64). */
  hs_counter: string;
  down_next_mid: number;
  up_low: number;
  up_above: string;
  /** Control messages dropped by the per-device rate limit, in all (control/rate-limit.ts). */
  rate_limited: Generated<number>;
}
export interface BlockedKeysTable {
  sign_key: string;
  device_id: string;
  blocked_at: string;
}
export interface ConnectionsTable {
  id: Generated<number>;
  device_id: string;
  conn_id: string;
  connected_at: string;
  disconnected_at: string | null;
  reason: string | null;
}
export interface OutboxTable {
  device_id: string;
  mid: number;
  type: string;
  body: string;
  created_at: string;
}
export interface AuditTable {
  id: Generated<number>;
  at: string;
  actor: string;
  action: string;
  project_id: number;
  device_id: string | null;
  detail: string;
}
/** Echoes sent and not answered yet (capabilities/ping): only these replies are stored. */
export interface EchoSentTable {
  device_id: string;
  ref: string;
  sent_at: string;
}
export interface EchoRepliesTable {
  id: Generated<number>;
  device_id: string;
  ref: string;
  data: string;
  received_at: string;
}

export interface DB {
  users: UsersTable;
  projects: ProjectsTable;
  memberships: MembershipsTable;
  api_tokens: ApiTokensTable;
  sessions: SessionsTable;
  enrollment_tokens: EnrollmentTokensTable;
  devices: DevicesTable;
  blocked_keys: BlockedKeysTable;
  connections: ConnectionsTable;
  outbox: OutboxTable;
  audit: AuditTable;
  echo_replies: EchoRepliesTable;
  echo_sent: EchoSentTable;
}
