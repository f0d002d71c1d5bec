/** Every fuzz target (issue 9, finding 13; telemetry and metrics parsers, issue 11; log input, issue 12; tunnel framing, issue 13). */
import type { Target } from "../lib.js";
import { enrollment } from "./enrollment.js";
import { frames } from "./frames.js";
import { http } from "./http.js";
import { influxLine } from "./influx-line.js";
import { logLines } from "./log-lines.js";
import { messages } from "./messages.js";
import { metricCodec } from "./metric-codec.js";
import { mqtt } from "./mqtt.js";
import { prometheusText } from "./prometheus-text.js";
import { signedFrames } from "./signed-frames.js";
import { statsd } from "./statsd.js";
import { telemetryBatch } from "./telemetry-batch.js";
import { tunnelFrames } from "./tunnel-frames.js";

export const TARGETS: Target[] = [
  frames,
  messages,
  signedFrames,
  enrollment,
  http,
  mqtt,
  telemetryBatch,
  metricCodec,
  statsd,
  influxLine,
  prometheusText,
  logLines,
  tunnelFrames,
];
