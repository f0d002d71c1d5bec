/**
 * Liveness and delivery probes: `ping` measures the control channel and needs no durable write
 * on either side; `echo` goes through the durable outbox and its reply is stored once.
 */
import { randomBytes } from "node:crypto";
import type { ControlLink, DurableContext, HandlerContext } from "../../control/link.js";
import type { DeviceRow } from "../../devices.js";
import { nowIso } from "../../store/db.js";
import { Waiters } from "./waiters.js";

export class Probes {
  private pingRef = 0;
  private readonly pongs = new Waiters<void>();
  private readonly echoes = new Waiters<string>();

  constructor(private readonly link: ControlLink) {}

  /** Liveness round trip. Resolves with milliseconds. */
  async ping(device: DeviceRow, timeoutMs = 10_000): Promise<number> {
    const ref = ++this.pingRef;
    const key = `${device.id}:${ref}`;
    const t0 = process.hrtime.bigint();
    const done = this.pongs.wait(key, timeoutMs, `no answer from ${device.name} in ${timeoutMs} ms`);
    try {
      await this.link.send(device, "ping", { ref });
    } catch (err) {
      this.pongs.drop(key);
      throw err;
    }
    await done;
    return Number(process.hrtime.bigint() - t0) / 1e6;
  }

  /** `pong`: resolves the waiting ping. */
  pong({ device }: HandlerContext, body: { ref: number }): void {
    this.pongs.settle(`${device.id}:${body.ref}`, undefined);
  }

  /** Durable echo probe: resolves with the agent's reply, even across reconnects. */
  async echo(device: DeviceRow, data: string, timeoutMs: number): Promise<{ ref: string; data: string }> {
    const ref = randomBytes(8).toString("hex");
    const got =
      timeoutMs > 0
        ? this.echoes.wait(
            `${device.id}:${ref}`,
            timeoutMs,
            "no echo reply yet; it stays queued for the device",
          )
        : null;
    await this.link.enqueue(device, "echo", { ref, data });
    if (!got) return { ref, data: "" };
    return { ref, data: await got };
  }

  /** `echo.reply` (durable): stored once, inside the batch transaction; then the waiter learns. */
  async echoReply(
    { device, trx, after }: DurableContext,
    body: { ref: string; data: string },
  ): Promise<void> {
    await trx
      .insertInto("echo_replies")
      .values({ device_id: device.id, ref: body.ref, data: body.data, received_at: nowIso() })
      .execute();
    after(() => this.echoes.settle(`${device.id}:${body.ref}`, body.data));
  }

  close(): void {
    const err = new Error("server shutting down");
    this.pongs.rejectAll(err);
    this.echoes.rejectAll(err);
  }
}
