/** Every fuzz target (issue 9, finding 13). Telemetry batches and tunnel framing add theirs when built. */
import type { Target } from "../lib.js";
import { enrollment } from "./enrollment.js";
import { frames } from "./frames.js";
import { http } from "./http.js";
import { messages } from "./messages.js";
import { mqtt } from "./mqtt.js";
import { signedFrames } from "./signed-frames.js";

export const TARGETS: Target[] = [frames, messages, signedFrames, enrollment, http, mqtt];
