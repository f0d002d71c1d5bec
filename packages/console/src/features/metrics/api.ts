/** The metrics routes (docs/protocol.md §14.5) over the console's one client (session cookie). */
import { metricsApi } from "@tether/sdk";
import { client } from "../../client";

export const metrics = metricsApi(client);

/** How often the metrics pages refresh: the agent's default collection interval. */
export const REFRESH_MS = 10_000;
