/**
 * What devices send about their commands (docs/protocol.md §13): the ack of `exec.start`
 * (running), `exec.started`, output under a credit window (spooled to disk, offset-checked,
 * capped at the limit) and the durable `exec.result`.
 */
import type { DownBody, RunStatus, UpBody } from "@tether/protocol";
import type { DurableContext, HandlerContext } from "../../control/link.js";
import type { ControlLink } from "../../control/link.js";
import type { DeviceRow } from "../../devices.js";
import type { ExecEvents } from "./events.js";
import type { RunMeta, RunState } from "./run-state.js";
import type { ExecScheduler } from "./scheduler.js";
import type { Spool, StreamName } from "./spool.js";
import type { ExecStore } from "./store.js";
import { toRun } from "./views.js";

const RESULT_STATUS: Record<UpBody<"exec.result">["status"], RunStatus> = {
  exited: "succeeded", // or failed, by exit code (below)
  signaled: "failed",
  timed_out: "timed_out",
  cancelled: "cancelled",
  lost: "lost",
  error: "error",
};

export class ExecInbound {
  constructor(
    private readonly store: ExecStore,
    private readonly link: ControlLink,
    private readonly events: ExecEvents,
    private readonly spool: Spool,
    private readonly state: RunState,
    private readonly scheduler: ExecScheduler,
  ) {}

  /** The agent acknowledged `exec.start`: it has recorded "started" and spawns now. */
  async delivered(device: DeviceRow, body: DownBody<"exec.start">): Promise<void> {
    const r = await this.store.markRunning(body.cmd, device.id);
    if (!r) return;
    this.state.markRunning(body.cmd, device.id);
    this.events.emit(body.cmd, { type: "run", run: toRun(r) });
  }

  /** `exec.started`: the process exists. A start we had given up on is running after all. */
  async started({ device }: HandlerContext, b: UpBody<"exec.started">): Promise<void> {
    if (this.state.isRunning(b.cmd, device.id)) return; // its ack already said so
    const r = await this.store.reviveRun(b.cmd, device.id);
    if (!r) return;
    this.events.emit(b.cmd, { type: "run", run: toRun(r) });
    if ((await this.store.commandState(b.cmd)) === "cancelled")
      await this.link.enqueue(device, "exec.cancel", { cmd: b.cmd });
  }

  /** `exec.output`: store what follows the stored bytes, answer with the credit. */
  async output({ device }: HandlerContext, b: UpBody<"exec.output">): Promise<void> {
    const stream: StreamName = b.s === "o" ? "stdout" : "stderr";
    const data = Buffer.from(b.d, "base64");
    const m = await this.state.runMeta(b.cmd, device.id);
    // A chunk went missing (the offset is past what is stored): ask for everything after it.
    const resend = m ? !(await this.append(b.cmd, device, m, stream, b.off, data)) : false;
    const [o, e] = m
      ? [await this.spool.size(b.cmd, device.id, "stdout"), await this.spool.size(b.cmd, device.id, "stderr")]
      : // Unknown command (deleted): take the bytes so the agent can finish.
        b.s === "o"
        ? [b.off + data.length, 0]
        : [0, b.off + data.length];
    await this.link
      .send(device, "exec.ack", { cmd: b.cmd, o, e, ...(resend ? { resend } : {}) })
      .catch(() => {}); // offline: the agent re-sends after its next handshake
  }

  /** Append what continues the stored output (capped at the limit); false on a gap. */
  private async append(
    cmd: string,
    device: DeviceRow,
    m: RunMeta,
    stream: StreamName,
    off: number,
    data: Buffer,
  ): Promise<boolean> {
    const size = await this.spool.size(cmd, device.id, stream);
    if (off > size) return false;
    if (off + data.length > size && size < m.limit) {
      const fresh = data.subarray(size - off, size - off + (m.limit - size));
      await this.spool.append(cmd, device.id, stream, fresh);
      this.events.emit(cmd, {
        type: "output",
        deviceId: device.id,
        device: m.deviceName,
        stream,
        data: fresh.toString("base64"),
        off: size,
      });
    }
    return true;
  }

  /** `exec.result` (durable, inside the batch transaction): the final word. */
  async result({ device, trx, after }: DurableContext, b: UpBody<"exec.result">): Promise<void> {
    // (Inside the batch transaction: on SQLite its one connection is ours, so use `trx`.)
    const tx = this.store.tx(trx);
    // Output the server had not acknowledged rides inside the result (§13).
    const m = b.ot || b.et ? await this.state.runMeta(b.cmd, device.id, tx) : null;
    if (m && b.ot) await this.append(b.cmd, device, m, "stdout", b.ot.off, Buffer.from(b.ot.d, "base64"));
    if (m && b.et) await this.append(b.cmd, device, m, "stderr", b.et.off, Buffer.from(b.et.d, "base64"));
    let status = RESULT_STATUS[b.status];
    if (b.status === "exited" && b.code !== 0) status = "failed";
    const r = await this.store.storeResult(tx, device.id, b, status);
    if (!r) return; // a command deleted meanwhile
    after(() => {
      this.state.ended(b.cmd, device.id);
      this.events.emit(b.cmd, { type: "run", run: toRun(r) });
      void this.spool.close(b.cmd, device.id);
      void this.scheduler.pump(b.cmd);
    });
  }
}
