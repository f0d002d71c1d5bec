/**
 * Many shells at once: memory per session on the server. A fresh server (own process) and
 * `shells` simulated devices (./fleet-agents.ts: real ControlClients, each with its own tunnel
 * layer and terminal capability, in `procs` processes); once all are online and the server's
 * RSS has settled, one shell per device is opened (10 at a time) through /api/v1/terminal, each
 * waits for its prompt and runs a command, and the server's RSS settles again:
 * per session = (after − before) / shells. Peer: WeTTY's server, the same number of shells.
 */
import { join } from "node:path";
import { type Child, progress, ROOT, settledRss, spawnChild } from "../lib/util.js";
import { openMany } from "./measure.js";
import type { Term } from "./term.js";
import { openTether, startServer } from "./tether.js";

export interface ShellsResult {
  shells: number;
  opened: number;
  beforeKiB: number;
  afterKiB: number;
  perSessionKiB: number;
  agentsBeforeKiB: number;
  agentsAfterKiB: number;
  openMs: number;
}

export async function tetherShells(tmpRoot: string, shells: number, procs: number): Promise<ShellsResult> {
  progress(`shells: a fresh server (child) and ${shells} simulated devices in ${procs} processes`);
  const server = await startServer(join(tmpRoot, "fleet-server"), {
    enrollUses: shells,
    tunnels: { perUser: shells + 10, perDevice: 8 },
    // A user may have 64 terminal WebSockets open: the shells are spread over operators, 50 each.
    operators: Math.ceil(shells / 50),
  });
  const agents: Child[] = [];
  let terms: Term[] = [];
  try {
    for (let p = 0; p < procs; p++)
      agents.push(
        spawnChild(`fleet-${p}`, join(ROOT, "bench/terminal/fleet-agents.ts"), [
          join(tmpRoot, "fleet-agents"),
          server.url,
          server.enrollToken,
          String(shells),
          String(procs),
          String(p),
        ]),
      );
    await Promise.all(agents.map((a) => a.wait((e) => e.ev === "prepared", "agents enrolled", 300_000)));
    server.child.send(`watch ${shells}`);
    for (const a of agents) a.send("go");
    await server.child.wait((e) => e.ev === "online" && e.n >= shells, "all devices online", 180_000);
    progress(`shells: ${shells} devices online; letting the server's RSS settle`);
    const agentRss = async () => {
      let sum = 0;
      for (const a of agents) {
        a.send("rss");
        sum += (await a.wait((e) => e.ev === "rss", "agent rss")).kib;
      }
      return sum;
    };
    const before = await settledRss(server.pid);
    const agentsBefore = await agentRss();
    const t0 = performance.now();
    const tokens = server.operatorTokens;
    terms = await openMany(shells, (i) =>
      openTether(server, `term-${i}`, `tether shell ${i}`, tokens[i % tokens.length]),
    );
    const openMs = performance.now() - t0;
    progress(`shells: ${shells} shells open and answering after ${(openMs / 1000).toFixed(1)} s; settling`);
    const after = await settledRss(server.pid);
    const agentsAfter = await agentRss();
    return {
      shells,
      opened: terms.filter(Boolean).length,
      beforeKiB: before.kib,
      afterKiB: after.kib,
      perSessionKiB: (after.kib - before.kib) / shells,
      agentsBeforeKiB: agentsBefore,
      agentsAfterKiB: agentsAfter,
      openMs,
    };
  } finally {
    await Promise.all(terms.filter(Boolean).map((t) => t.close().catch(() => {})));
    await Promise.all(agents.map((a) => a.stop()));
    await server.stop();
  }
}
