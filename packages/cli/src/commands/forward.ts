/**
 * tether forward DEVICE [LOCAL_PORT:]HOST:PORT: a local TCP port forwarded to HOST:PORT as the
 * device sees it (docs/protocol.md §17.5), over one tunnel session with a channel per
 * connection. The session opens first, so a refusal (role, allow-list, offline) comes before
 * anything listens; then `listening on ADDR:PORT` on stdout, the line scripts wait for.
 */
import net from "node:net";
import type { Duplex } from "node:stream";
import { type ForwardSession, openForward } from "@tether/sdk/node";
import type { Command } from "commander";
import type { Ctx } from "../context.js";
import { escapeControl } from "../escape.js";
import { CliError, EXIT, messageFor } from "../io.js";
import { EXEC_EXIT } from "./exec.js";
import { tunnelConfig, tunnelFailure } from "./tunnel-common.js";

const HELP = `
Examples:
  tether forward robot-7 8080                  127.0.0.1:<free port> → the device's localhost:8080
  tether forward robot-7 9000:localhost:8080   127.0.0.1:9000 → the device's localhost:8080
  tether forward robot-7 0:192.168.1.20:554 --bind 0.0.0.0

It prints "listening on 127.0.0.1:PORT" once it listens (with the port it picked when
LOCAL_PORT is 0 or left out) and runs until Ctrl-C (exit 0) or the session ends (exit 255, with
the reason on stderr). Each local connection is its own channel; many can be open at once (at
most 256). A connection the device cannot make (refused, unreachable) is closed at once, with
a line on stderr; the forward goes on.

Where a forward may go is the project's allow-list (default: the device's own loopback,
localhost / 127.0.0.1 / [::1], any port); admins change it with
tether projects tunnels --forward-allow. Anything else is refused (exit 125).

Exit codes: 0 stopped by Ctrl-C/SIGTERM; 1 cannot listen locally; 2 usage; 125 refused (your
role, the allow-list, too many sessions); 255 no such device, device offline or not dialling
back, the session cut off, or the server unreachable.`;

export interface ForwardSpec {
  localPort: number;
  host: string;
  port: number;
}

const usage = (m: string) => new CliError(m, EXIT.usage);

function port(s: string, what: string, min: number): number {
  const n = Number(s);
  if (!/^\d{1,5}$/.test(s) || n < min || n > 65535)
    throw usage(`${what} must be a port ${min}-65535, got ${JSON.stringify(s)}`);
  return n;
}

/** `[LOCAL_PORT:]HOST:PORT`, or a bare `PORT` (the device's localhost). IPv6 hosts in brackets. */
export function parseForwardSpec(s: string): ForwardSpec {
  const t = s.trim();
  if (/^\d+$/.test(t)) return { localPort: 0, host: "localhost", port: port(t, "PORT", 1) };
  const m = /^(?:(\d+):)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d+)$/.exec(t);
  if (!m)
    throw usage(
      `expected [LOCAL_PORT:]HOST:PORT (e.g. 8080:localhost:80, or [::1]:22), got ${JSON.stringify(s)}`,
    );
  const host = m[2].replace(/^\[(.*)\]$/, "$1");
  if (host.length > 253) throw usage("HOST is longer than 253 characters");
  return {
    localPort: m[1] === undefined ? 0 : port(m[1], "LOCAL_PORT", 0),
    host,
    port: port(m[3], "PORT", 1),
  };
}

/** `127.0.0.1:8080`, `[::1]:8080`. */
const hostPort = (h: string, p: number) => (h.includes(":") ? `[${h}]:${p}` : `${h}:${p}`);

export function registerForward(program: Command, ctx: Ctx): void {
  program
    .command("forward")
    .description("forward a local TCP port to an address the device can reach (e.g. its web UI)")
    .usage("DEVICE [LOCAL_PORT:]HOST:PORT [--bind ADDR]")
    .argument("<device>", "device name or id")
    .argument("<spec>", "[LOCAL_PORT:]HOST:PORT as the device sees it (LOCAL_PORT 0 or left out: pick one)")
    .option("--bind <addr>", "local address to listen on", "127.0.0.1")
    .addHelpText("after", HELP)
    .action(async (device: string, spec: string, o: { bind: string }, cmd: Command) => {
      const f = parseForwardSpec(spec);
      if (net.isIP(o.bind) === 0 && o.bind !== "localhost")
        throw usage(`--bind must be an IP address, got ${JSON.stringify(o.bind)}`);
      const stop = ctx.io.stopSignal();
      const what = `forward to ${escapeControl(hostPort(f.host, f.port))} on ${escapeControl(device)}`;
      let fwd: ForwardSession;
      try {
        fwd = await openForward(tunnelConfig(ctx, cmd, stop), { device, host: f.host, port: f.port });
      } catch (err) {
        throw tunnelFailure(ctx, what, err);
      }
      const conns = new Set<net.Socket>();
      const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (sock) => {
        conns.add(sock);
        sock.on("close", () => conns.delete(sock));
        sock.on("error", () => {});
        void forwardOne(ctx, fwd, sock);
      });
      try {
        await new Promise<void>((resolve, reject) => {
          server.once("error", reject);
          server.listen({ host: o.bind, port: f.localPort }, () => {
            server.off("error", reject);
            resolve();
          });
        });
      } catch (err) {
        fwd.close();
        throw new CliError(
          `cannot listen on ${hostPort(o.bind, f.localPort)}: ${messageFor(err)}`,
          EXIT.generic,
        );
      }
      const addr = server.address() as net.AddressInfo;
      ctx.io.stdout(`listening on ${hostPort(addr.address, addr.port)}\n`);
      ctx.io.stderr(
        `tether: forwarding ${hostPort(addr.address, addr.port)} to ${escapeControl(hostPort(f.host, f.port))} on ${escapeControl(fwd.device.name)}; Ctrl-C stops\n`,
      );
      const stopped = new Promise<"stop">((resolve) => {
        if (stop.aborted) resolve("stop");
        else stop.addEventListener("abort", () => resolve("stop"), { once: true });
      });
      const outcome = await Promise.race([stopped, fwd.done]);
      server.close();
      for (const s of conns) s.destroy();
      if (outcome === "stop") {
        fwd.close();
        return;
      }
      const err = outcome.error;
      if (err) throw tunnelFailure(ctx, `${what} ended`, err);
      throw new CliError(`${what} ended`, EXEC_EXIT.unreachable);
    });
}

/** One local connection: its own channel, bytes both ways with backpressure and half-close. */
export async function forwardOne(ctx: Ctx, fwd: ForwardSession, sock: net.Socket): Promise<void> {
  const from = hostPort(sock.remoteAddress ?? "?", sock.remotePort ?? 0);
  let ch: Duplex;
  try {
    ch = await fwd.connect();
  } catch (err) {
    ctx.io.stderr(`tether: connection from ${from} not forwarded: ${escapeControl(messageFor(err))}\n`);
    sock.destroy();
    return;
  }
  if (sock.destroyed) {
    ch.destroy();
    return;
  }
  splice(sock, ch);
}

/**
 * Socket ↔ channel. pipe() carries backpressure and passes each side's end on as the other's
 * end (TCP FIN ↔ EOF frame); when the socket is gone the channel closes, and when the channel
 * closes the socket ends once what it was sent is written.
 */
export function splice(sock: net.Socket, ch: Duplex): void {
  ch.on("error", () => sock.destroy());
  sock.on("error", () => ch.destroy());
  sock.pipe(ch);
  ch.pipe(sock);
  sock.once("close", () => ch.destroy());
  ch.once("close", () => {
    if (sock.destroyed) return;
    if (sock.writableFinished) return void sock.destroy();
    sock.once("finish", () => sock.destroy());
    sock.end();
  });
}
