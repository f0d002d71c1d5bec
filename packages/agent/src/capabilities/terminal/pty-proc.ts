/**
 * A session with a PTY (docs/protocol.md §17.4), on node-pty. Output is passed on as raw
 * bytes (`encoding: null`: Buffers, never decoded, so UTF-8 split across reads and binary
 * floods arrive untouched); when the channel's window is used up the PTY is paused, so a
 * process flooding output (`yes`) blocks in write() instead of filling memory. Ctrl-C is the
 * byte 0x03 in the input: the line discipline turns it into SIGINT for the foreground job.
 */
import { clampSize, TUNNEL_LIMITS, type TunnelSignal } from "@tether/protocol";
import * as pty from "node-pty";
import { processStartTime, procStat } from "../../proc-stat.js";
import type { AgentChannel } from "../../tunnels/index.js";
import { type ExitStatus, nodeSignal, type SessionProc, signalName, withGroupsOf } from "./proc.js";
import { ptyInput } from "./pty-input.js";
import { keepPtyTail } from "./pty-tail.js";
import type { SpawnPlan } from "./spawn-plan.js";

/** A read this long means more output is waiting (Linux hands out at most 4095 bytes a read). */
const FULL_READ = 4000;
/** Output held into one frame at most (under TUNNEL_LIMITS.maxDataBytes), and for at most this long. */
const HOLD_BYTES = 28 * 1024;
const HOLD_MS = 1;

/** What EOF from the user becomes: VEOF (Ctrl-D), which ends a shell or `cat` reading a line. */
const EOT = Buffer.from([4]);

export function startPty(
  ch: AgentChannel,
  plan: SpawnPlan,
  size: { cols: number; rows: number; term: string },
): SessionProc {
  const cols = clampSize(size.cols, TUNNEL_LIMITS.maxCols);
  const rows = clampSize(size.rows, TUNNEL_LIMITS.maxRows);
  const u = plan.switchTo;
  // Throws when forkpty fails (no PTY left…): the caller answers OPEN_FAIL.
  const p = withGroupsOf(u, () =>
    pty.spawn(plan.file, plan.args, {
      name: plan.env.TERM,
      cols,
      rows,
      cwd: plan.cwd,
      env: plan.env,
      encoding: null,
      ...(u ? { uid: u.uid, gid: u.gid } : {}),
    }),
  );
  let open = true;
  let paused = false;
  const send = (b: Buffer) => {
    if (ch.destroyed) return;
    if (!ch.write(b) && !paused) {
      paused = true;
      p.pause();
      ch.once("drain", () => {
        paused = false;
        if (open) p.resume();
      });
    }
  };
  // Bulk output comes in full reads (the PTY hands out at most ~4 KiB a read): hold those
  // briefly and send them as one frame of up to HOLD_BYTES, a fifth of the frames and of the
  // relays' work (bench:terminal, cat). A short read (a keystroke's echo, a prompt) flushes at
  // once, so interactive latency is untouched; a held read waits at most HOLD_MS.
  let held: Buffer[] = [];
  let heldBytes = 0;
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    if (heldBytes === 0) return;
    const b = held.length === 1 ? held[0] : Buffer.concat(held, heldBytes);
    held = [];
    heldBytes = 0;
    send(b);
  };
  const out = (b: Buffer) => {
    if (!open || (b.length < FULL_READ && heldBytes === 0)) {
      flush();
      send(b);
      return;
    }
    held.push(b);
    heldBytes += b.length;
    if (b.length < FULL_READ || heldBytes >= HOLD_BYTES) flush();
    else timer ??= setTimeout(flush, HOLD_MS);
  };
  // With `encoding: null` node-pty hands out Buffers (its typings say string).
  p.onData(out as unknown as (s: string) => void);
  const since = processStartTime(p.pid);
  keepPtyTail(p, {
    onTail: (b: Buffer) => {
      flush();
      send(b);
    },
    onClosing: () => {
      open = false;
    },
    leaderAlive: () => {
      const st = procStat(p.pid);
      return since !== undefined && st !== undefined && st.state !== "Z" && st.start === since;
    },
  });

  // A SIGNAL frame goes to the terminal's foreground job (field tpgid), as the tty does for
  // Ctrl-C, once the child owns the terminal; never after the leader is gone (its numbers
  // may be someone else's by then).
  const sendSignal = (name: TunnelSignal) => {
    if (!open) return;
    const st = procStat(p.pid);
    const target = st && st.session === p.pid && st.tpgid > 0 ? st.tpgid : p.pid;
    try {
      process.kill(-target, nodeSignal(name));
    } catch {}
  };
  let ttyReady = false;
  const early: TunnelSignal[] = [];
  ch.on("signal", (name: TunnelSignal) => {
    if (ttyReady) sendSignal(name);
    else if (early.length < MAX_EARLY_SIGNALS) early.push(name);
  });
  const fd = (p as unknown as { fd?: number }).fd;
  whenTtyReady(p.pid, () => {
    ttyReady = true;
    if (typeof fd === "number") {
      const input = ptyInput(fd, () => open);
      ch.pipe(input, { end: false });
      ch.on("end", () => input.write(EOT));
    } else {
      ch.on("data", (b: Buffer) => p.write(b));
      ch.on("end", () => p.write(EOT));
    }
    for (const name of early.splice(0)) sendSignal(name);
  });
  ch.once("close", () => {
    if (open) p.resume(); // read on into nothing until it ends (the session is being ended)
  });
  ch.on("resize", (c: number, r: number) => {
    if (!open) return;
    try {
      p.resize(clampSize(c, TUNNEL_LIMITS.maxCols), clampSize(r, TUNNEL_LIMITS.maxRows));
    } catch {} // the PTY closed in between
  });
  const exited = new Promise<ExitStatus>((resolve) => {
    p.onExit(({ exitCode, signal }) => {
      open = false;
      flush();
      resolve(signal ? { code: null, signal: signalName(signal) } : { code: exitCode, signal: null });
    });
  });
  return { pid: p.pid, exited };
}

/** SIGNAL frames kept while the child is not yet running; more are dropped. */
const MAX_EARLY_SIGNALS = 8;

/** Longest wait for the child to take the terminal; past it input flows anyway. */
const TTY_READY_MAX_MS = 2000;

/**
 * Input and SIGNAL frames wait until the child made the PTY its controlling terminal: a
 * Ctrl-C typed ahead reaches the line discipline before that finds no foreground job to
 * signal and is lost, and a signal sent before setsid finds no process group (both seen in
 * tests). The child has then called setsid (its session is its
 * pid) and TIOCSCTTY (its terminal has a foreground group). Usually at once; without /proc, at once.
 */
function whenTtyReady(pid: number, go: () => void): void {
  const deadline = Date.now() + TTY_READY_MAX_MS;
  const look = () => {
    const st = procStat(pid);
    if (!st || (st.session === pid && st.tpgid > 0) || Date.now() > deadline) return go();
    setTimeout(look, 1);
  };
  look();
}
