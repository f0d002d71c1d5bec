/**
 * The remote configuration routes (docs/protocol.md §18) over the console's one client (session
 * cookie, the project header): the SDK's configApi, which checks every answer against its
 * @tether/protocol/config schema, so a server that answers something else is reported, not
 * drawn wrong.
 */
import type { ConfigChange, ConfigRevisionDetail, ConfigRollout } from "@tether/sdk";
import { configApi as sdkConfigApi } from "@tether/sdk";
import { client } from "../../client";

const api = sdkConfigApi(client);

export const configApi = {
  layers: () => api.layers(),
  layer: (ref: string) => api.layer(ref),
  patch: api.patch,
  history: (ref: string, limit = 50) => api.history(ref, limit),
  revision: (rev: number) => api.revision(rev),
  diff: (from: number, to: number) => api.diff(from, to),
  rollback: api.rollback,
  groups: () => api.groups(),
  createGroup: api.createGroup,
  deleteGroup: (name: string, message?: string) => api.deleteGroup(name, message),
  device: (ref: string) => api.device(ref),
  status: () => api.status(),
  rollouts: (all = false) => api.rollouts(all),
  rollout: (id: string) => api.rollout(id),
  rolloutAction(id: string, action: "pause" | "resume" | "abort"): Promise<ConfigRollout> {
    if (action === "pause") return api.pauseRollout(id);
    if (action === "resume") return api.resumeRollout(id);
    return api.abortRollout(id);
  },
  /** PUT a file's bytes into a layer (≤ 16 MiB). */
  async uploadFile(
    ref: string,
    o: { path: string; body: Blob; secret: boolean; baseRevision: number | null; message?: string },
  ): Promise<ConfigChange> {
    const bytes = new Uint8Array(await o.body.arrayBuffer());
    return api.putFile(ref, o.path, bytes, {
      secret: o.secret,
      baseRevision: o.baseRevision,
      ...(o.message ? { message: o.message } : {}),
    });
  },
};

export type ConfigRevisionView = ConfigRevisionDetail;

export type {
  ConfigChange,
  ConfigDeviceView,
  ConfigDiff,
  ConfigGroup,
  ConfigLayerSummary,
  ConfigLayerView,
  ConfigRevision,
  ConfigRollout,
  ConfigRolloutDetail,
  ConfigStatusView,
  RolloutSpec,
} from "@tether/sdk";
