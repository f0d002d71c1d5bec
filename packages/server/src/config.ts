/** How a server is configured (CLI flags and tests). */
import type { Logger } from "pino";

export interface HostPort {
  host: string;
  port: number;
}

export interface ServerConfig {
  dataDir: string;
  listen: HostPort;
  mqttListen: HostPort;
  publicUrl?: string;
  database?: string;
  tlsCert?: string;
  tlsKey?: string;
  rekeySeconds?: number;
  /**
   * A hostile device's limits (docs/security.md "A hostile device"); defaults in
   * DEFAULT_CONTROL_OPTIONS: messages per second and burst per device, ms between rate-limit
   * reports per device, ms a will of the current connection waits for the device to answer.
   */
  control?: { deviceRate?: number; deviceBurst?: number; rateReportMs?: number; willConfirmMs?: number };
  logLevel?: string;
  log?: Logger;
  /**
   * External broker (Mosquitto + dynamic security) instead of the embedded one: `url` is
   * what the server dials, `adminFile` holds the dynsec admin {"username","password"},
   * `agentUrl` is what agents are told (default `url`). mqttListen is then unused.
   */
  broker?: { url: string; adminFile: string; agentUrl?: string; caFile?: string };
  /** Request rate limits on sign-in and enrollment; defaults in DEFAULT_RATE_LIMITS. */
  rateLimits?: Partial<RateLimits>;
  /** Limits on the listeners (MQTT TLS, MQTT over WebSocket, HTTPS); defaults in DEFAULT_LISTENER_LIMITS. */
  listeners?: Partial<ListenerLimits>;
  /** Remote execution timings (tests shorten them) and the limits on reading stored output. */
  exec?: {
    sweepMs?: number;
    deliverMs?: number;
    lostGraceMs?: number;
    /** Event streams (GET /commands/{id}/events) one user may have open at once (default 16). */
    maxStreamsPerUser?: number;
    /** Bytes of one stream of one run in an answer; more is paged (default 1 MiB). */
    outputPageBytes?: number;
    /** Bytes of output in one GET /commands/{id}?output=1 answer, all runs together (default 8 MiB). */
    outputResponseBytes?: number;
  };
  /** The telemetry channel (docs/protocol.md §14). */
  telemetry?: {
    /** Days between scheduled device-token rotations (default 30; 0 turns the schedule off). */
    tokenRotateDays?: number;
    /** Ms between sweeps that issue missing tokens and scheduled rotations (default 60 000; tests shorten it). */
    sweepMs?: number;
    /** Samples (points, lines) one device may upload per second, sustained (default 50 000). */
    deviceSamplesPerSecond?: number;
    /** Samples one device may upload at once, e.g. its buffer after an outage (default 2 000 000). */
    deviceSampleBurst?: number;
  };
  /** Metrics (docs/protocol.md §14.4). */
  metrics?: {
    /** Forward every stored sample, with device labels, to this Prometheus remote-write URL. */
    remoteWrite?: string;
    /** Retention per resolution, ms (defaults: raw 7 days, 1 min rollups 30 days, 1 h rollups 400 days). */
    retention?: { rawMs?: number; minuteMs?: number; hourMs?: number };
    /** Ms between compaction runs (default 60 000; tests shorten it). */
    compactEveryMs?: number;
    /** Recent rows younger than this stay uncompacted (default 10 min). */
    compactAfterMs?: number;
    /** Distinct series the server keeps per device (default 10 000). */
    maxSeriesPerDevice?: number;
  };
  /** Device logs (docs/protocol.md §15). */
  logs?: {
    /** Ms a line is kept after its receipt (default 7 days). */
    retentionMs?: number;
    /** Message bytes kept per project; the oldest lines go first past it (default 1 GiB). */
    maxBytesPerProject?: number;
    /** Ms between retention passes (default 60 000; tests shorten it). */
    retainEveryMs?: number;
    /** Live tail: bytes waiting in one connection before lines are dropped (default 1 MiB). */
    tailBufferBytes?: number;
  };
  /** Tunnels: terminals, SSH, port forwarding (docs/protocol.md §17); defaults in DEFAULT_TUNNEL_LIMITS (tunnels/). */
  tunnels?: {
    /** Open sessions per device (default 8). */
    perDevice?: number;
    /** Open sessions per user (default 16). */
    perUser?: number;
    /** A session with no data either way for this long is closed (default 30 min). */
    idleMs?: number;
    /** A session is closed this long after it opened (default 12 h). */
    maxMs?: number;
    /** How long the device has to dial back (default 10 s). */
    dialTimeoutMs?: number;
    /** Bytes of one session's recording; past it the recording stops with a note (default 64 MiB). */
    recordingMaxBytes?: number;
    /** Recording bytes kept per project; the oldest go first past it (default 1 GiB). */
    recordingsPerProjectBytes?: number;
  };
  /** The SSH gateway (docs/protocol.md §17.6); off unless listen is set. */
  ssh?: {
    listen?: { host: string; port: number };
  };
  /** Alerts and webhooks (docs/protocol.md §16); defaults in DEFAULT_ALERTS (capabilities/alerts). */
  alerts?: {
    /** Ms between evaluations of every rule (default 1000). */
    evalMs?: number;
    /** A metric series not heard from for this long no longer holds a condition (default 5 min). */
    staleMs?: number;
    /** Resolved alerts stay listed this long (default 1 h); history keeps them longer. */
    resolvedKeepMs?: number;
    /** Ms between reloads of device labels and presence (default 30 000). */
    refreshMs?: number;
    /** One webhook request, answer included (default 10 000). */
    webhookTimeoutMs?: number;
    /** Attempts per delivery (default 6) and the first retry delay, doubled each time (default 1000). */
    webhookMaxAttempts?: number;
    webhookBackoffMs?: number;
    /** A delivery is given up this long after it was created (default 10 min). */
    webhookMaxAgeMs?: number;
    /** Deliveries waiting per webhook; beyond it the oldest is dropped (default 1000). */
    webhookMaxPending?: number;
    /** The clock (tests): ms since the epoch. */
    clock?: () => number;
  };
}

/** Listener hardening (docs/security.md "Listeners"). */
export interface ListenerLimits {
  /** Connections not yet authenticated, per listener (MQTT: CONNECT accepted; HTTPS: a complete request head). */
  maxPreauth: number;
  /** The same, per source address (a whole site behind one NAT shares one address). */
  maxPreauthPerAddress: number;
  /** Time from accept to authentication (TLS handshake included), ms. */
  preauthTimeoutMs: number;
  /** Bytes an MQTT client may send before it is authenticated (its CONNECT; the will included). */
  mqttMaxPreauthBytes: number;
  /** Largest MQTT keepalive a client may ask for, seconds (0, i.e. none, is refused too). */
  mqttMaxKeepaliveSeconds: number;
  /** Time to receive a whole HTTP request, body included, ms. */
  httpRequestTimeoutMs: number;
  /** Idle time of a kept-alive HTTP connection between requests, ms. */
  httpKeepAliveTimeoutMs: number;
}

export const DEFAULT_LISTENER_LIMITS: ListenerLimits = {
  maxPreauth: 4096,
  maxPreauthPerAddress: 1024,
  preauthTimeoutMs: 15_000,
  mqttMaxPreauthBytes: 8192,
  mqttMaxKeepaliveSeconds: 300,
  httpRequestTimeoutMs: 60_000,
  httpKeepAliveTimeoutMs: 10_000,
};

/**
 * Rate limits of the routes reachable without a token (docs/security.md "Accounts"), per
 * window. Beyond them: 429 TETHER_ERR_RATE_LIMITED with Retry-After, and a warning logged.
 */
export interface RateLimits {
  /** The window the counts below are over, ms. */
  windowMs: number;
  /** Failed sign-ins (POST /api/v1/auth/login) per username, from anywhere. */
  loginPerUsername: number;
  /** Sign-in attempts per source address. */
  loginPerAddress: number;
  /** GET /api/v1/enroll/info and POST /api/v1/enroll, each, per source address (a fleet behind one NAT shares one). */
  enrollPerAddress: number;
  /** POST /api/v1/enroll/poll per source address (pending devices poll every few seconds). */
  enrollPollPerAddress: number;
}

export const DEFAULT_RATE_LIMITS: RateLimits = {
  windowMs: 60_000,
  loginPerUsername: 10,
  loginPerAddress: 60,
  enrollPerAddress: 2000,
  enrollPollPerAddress: 12_000,
};
