/** tether ping DEVICE: control-channel round trips, like ping(8). */
import { ApiError, pause } from "@tether/sdk";
import type { Command } from "commander";
import { parseDuration, parseIntArg } from "../args.js";
import { type Ctx, client, printJson } from "../context.js";
import { CliError, EXIT } from "../io.js";
import { escapeControl } from "../escape.js";

const fmt = (n: number) => (n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0));

export function registerPing(program: Command, ctx: Ctx): void {
  program
    .command("ping")
    .description("round trip server -> broker -> agent -> server over the control channel")
    .argument("<device>", "device id or unique name")
    .option("-c, --count <n>", "number of pings", "4")
    .option("-i, --interval <duration>", "wait between pings", "1s")
    .option("-W, --timeout <duration>", "how long to wait for each reply", "10s")
    .option("--json", 'print {"device","count","received","rttMs":[...],"min","avg","max"}')
    .action(
      async (
        ref: string,
        o: { count: string; interval: string; timeout: string; json?: boolean },
        cmd: Command,
      ) => {
        const count = parseIntArg(o.count, "--count");
        const intervalMs = parseDuration(o.interval, true) * 1000;
        const timeoutMs = Math.min(60_000, Math.max(1, Math.round(parseDuration(o.timeout) * 1000)));
        // Ctrl-C ends the ping in flight too (the client's signal), then the summary is printed.
        const stop = ctx.io.stopSignal();
        const c = client(ctx, cmd, { signal: stop });
        const dev = await c.getDevice(ref);
        const name = escapeControl(dev.name);
        const rtts: number[] = [];
        let lastErr: ApiError | null = null;
        let sent = 0;
        for (let seq = 1; seq <= count && !stop.aborted; seq++) {
          sent++;
          try {
            const r = await c.ping(dev.id, seq, timeoutMs);
            rtts.push(r.rttMs);
            if (!o.json) ctx.io.stdout(`reply from ${name}: seq=${seq} time=${fmt(r.rttMs)} ms\n`);
          } catch (err) {
            if (stop.aborted) break;
            if (!(err instanceof ApiError)) throw err;
            // Not a per-packet problem: stop at once (not found, forbidden, wrong state...).
            if (!["TETHER_ERR_DEVICE_OFFLINE", "TETHER_ERR_DEVICE_TIMEOUT"].includes(err.code)) throw err;
            lastErr = err;
            if (!o.json) ctx.io.stdout(`no reply from ${name}: seq=${seq} (${escapeControl(err.message)})\n`);
          }
          if (seq < count && intervalMs > 0) await pause(intervalMs, stop);
        }
        const min = rtts.length ? Math.min(...rtts) : null;
        const max = rtts.length ? Math.max(...rtts) : null;
        const avg = rtts.length ? rtts.reduce((a, b) => a + b, 0) / rtts.length : null;
        if (o.json) {
          printJson(ctx, {
            device: dev.name,
            count: sent,
            received: rtts.length,
            rttMs: rtts,
            min,
            avg,
            max,
          });
        } else {
          ctx.io.stdout(
            `--- ${name} ping ---\n${sent} sent, ${rtts.length} received` +
              (rtts.length ? `, min/avg/max = ${fmt(min!)}/${fmt(avg!)}/${fmt(max!)} ms` : "") +
              "\n",
          );
        }
        if (rtts.length === 0) {
          throw new CliError(
            `${name} did not answer${lastErr ? `: ${escapeControl(lastErr.message)}` : ""}`,
            EXIT.unreachable,
          );
        }
      },
    );
}
