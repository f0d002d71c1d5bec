/**
 * Liveness and delivery probes: `ping` measures the control channel and needs no durable write
 * on either side; `echo` goes through the durable outbox and its reply is stored once — only
 * a reply to an echo the server sent and that has no reply yet (echo_sent): nothing a device
 * sends is stored unless the server asked for it (docs/security.md "A hostile device").
 */
import { randomBytes } from "node:crypto";
import { WILL_CHECK_REF } from "@tether/protocol";
import type { Kysely } from "kysely";
import type { Logger } from "pino";
import type { ControlLink, DurableContext, HandlerContext } from "../../control/link.js";
import type { DeviceRow } from "../../devices.js";
import { nowIso } from "../../store/db.js";
import type { DB } from "../../store/schema.js";
import { Waiters } from "./waiters.js";

/** At most one "unsolicited reply" warn line per device per this many ms. */
const UNSOLICITED_LOG_MS = 60_000;

export class Probes {
  /** The last ref used; probes start above WILL_CHECK_REF, the transport's will check. */
  private pingRef = WILL_CHECK_REF;
  private readonly pongs = new Waiters<void>();
  private readonly echoes = new Waiters<string>();
  private readonly unsolicitedLogged = new Map<string, number>();
  /** echo.reply messages dropped because they answered no pending echo. */
  unsolicitedReplies = 0;

  constructor(
    private readonly link: ControlLink,
    private readonly db: Kysely<DB>,
    private readonly log: Logger,
  ) {}

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
    // The echo and the right to one reply commit together.
    const [m] = await this.db.transaction().execute(async (trx) => {
      await trx.insertInto("echo_sent").values({ device_id: device.id, ref, sent_at: nowIso() }).execute();
      return this.link.enqueueIn(trx, [{ deviceId: device.id, type: "echo", body: { ref, data } }]);
    });
    await this.link.flush(device, m!);
    if (!got) return { ref, data: "" };
    return { ref, data: await got };
  }

  /**
   * `echo.reply` (durable): stored once, inside the batch transaction, if it answers an echo
   * that is still waiting for its reply; then the waiter learns. Anything else is acknowledged
   * (so the agent stops re-sending it) and dropped.
   */
  async echoReply(
    { device, trx, after }: DurableContext,
    body: { ref: string; data: string },
  ): Promise<void> {
    const asked = await trx
      .deleteFrom("echo_sent")
      .where("device_id", "=", device.id)
      .where("ref", "=", body.ref)
      .executeTakeFirst();
    if (Number(asked.numDeletedRows) === 0) {
      this.unsolicitedReplies++;
      const now = Date.now();
      if (now - (this.unsolicitedLogged.get(device.id) ?? 0) >= UNSOLICITED_LOG_MS) {
        this.unsolicitedLogged.set(device.id, now);
        this.log.warn(
          { deviceId: device.id, ref: body.ref.slice(0, 32) },
          "dropped an echo.reply that answers no pending echo (unsolicited or repeated)",
        );
      }
      return;
    }
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
