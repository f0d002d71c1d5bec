import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { collectFacts, ControlClient, Journal, prepareIdentity } from "@tether/agent";
import { createServer } from "@tether/server";
import pino from "pino";
import { Session } from "node:inspector/promises";
import { writeFileSync } from "node:fs";
import { summarize, sleep } from "./util.js";

const tmpRoot = mkdtempSync(join(tmpdir(), "tether-probe-"));
const srv = await createServer({
  dataDir: join(tmpRoot, "s"),
  listen: { host: "127.0.0.1", port: 0 },
  mqttListen: { host: "127.0.0.1", port: 0 },
  log: pino({ level: "warn" }, pino.destination(2)),
});
const info = await srv.listen();
const projectId = await srv.services.accounts.projectId("default");
const { token } = await srv.services.enrollment.createToken(projectId, "bench", { autoAccept: true });
const log = pino({ level: "warn" }, pino.destination(2));
const dataDir = join(tmpRoot, "a");
const { identity, keys } = await prepareIdentity({ dataDir, url: info.url, token, name: "p" }, log);
const client = new ControlClient({ identity, keys, journal: new Journal(dataDir), log, facts: collectFacts });
await new Promise<void>((r) => {
  client.once("ready", () => r());
  client.start();
});
for (;;) {
  if ((await srv.services.devices.get(identity.deviceId))?.online === 1) break;
  await sleep(20);
}
const device = (await srv.services.devices.get(identity.deviceId))!;
if (process.env.BLOCKS) {
  for (let b = 0; b < 10; b++) {
    const xs: number[] = [];
    for (let i = 0; i < 500; i++) xs.push(await srv.services.control.ping(device));
    const q = summarize(xs);
    console.log("block", b, "p50", q.p50.toFixed(3), "p99", q.p99.toFixed(3));
  }
  process.exit(0);
}
const now = () => Number(process.hrtime.bigint()) / 1e6;
let t: Record<string, number> = {};
const mc = (client as any).client;
mc.prependListener("message", () => {
  t.agentMsg = now();
});
const origPub = mc.publish.bind(mc);
mc.publish = (...a: any[]) => {
  t.agentPub = now();
  return origPub(...a);
};
const ctl: any = srv.services.control;
const origUp = ctl.onUp.bind(ctl);
ctl.onUp = (id: string, p: Buffer) => {
  t.srvUp = now();
  return origUp(id, p);
};
const origGet = srv.services.devices.get.bind(srv.services.devices);
(srv.services.devices as any).get = async (id: string) => {
  t.getStart = now();
  const r = await origGet(id);
  t.getEnd = now();
  return r;
};
const brk = ctl.broker;
const origBP = brk.publish.bind(brk);
brk.publish = (topic: string, f: Buffer) => {
  t.bpub = now();
  return origBP(topic, f).then(() => {
    t.bpubDone = now();
  });
};
const origRes = ctl.resolvePong.bind(ctl);
ctl.resolvePong = (id: string, ref: number) => {
  t.resolve = now();
  return origRes(id, ref);
};
const rows: Record<string, number[]> = {};
const ses = new Session();
ses.connect();
await ses.post("Profiler.enable");
await ses.post("Profiler.setSamplingInterval", { interval: 50 });
await ses.post("Profiler.start");
const cpu0 = process.cpuUsage();
const w0 = now();
for (let i = 0; i < 1200; i++) {
  t = {};
  const t0 = now();
  await ctl.ping(device);
  const t5 = now();
  if (i < 200) continue;
  const seg = {
    ping_to_brokerpub: t.bpub - t0,
    brokerpub_to_agent: t.agentMsg - t.bpub,
    bpub_cb: t.bpubDone - t.bpub,
    agent_handle: t.agentPub - t.agentMsg,
    up_to_server: t.srvUp - t.agentPub,
    srv_until_get: t.getStart - t.srvUp,
    devices_get: t.getEnd - t.getStart,
    get_to_resolve: t.resolve - t.getEnd,
    resolve_to_return: t5 - t.resolve,
    total: t5 - t0,
  };
  for (const [k, v] of Object.entries(seg)) (rows[k] ??= []).push(v);
}
const { profile } = await ses.post("Profiler.stop");
writeFileSync("/tmp/prof/loop.cpuprofile", JSON.stringify(profile));
const cpu = process.cpuUsage(cpu0);
console.log("cpu ms", (cpu.user + cpu.system) / 1000, "wall ms", now() - w0);
for (const [k, v] of Object.entries(rows)) {
  const s = summarize(v);
  console.log(k.padEnd(20), "p50", s.p50.toFixed(3), "mean", s.mean.toFixed(3), "p99", s.p99.toFixed(3));
}

// experiment: cache the device row (no per-frame DB), no instrumentation
(srv.services.devices as any).get = async (id: string) => device;
ctl.onUp = origUp;
ctl.resolvePong = origRes;
brk.publish = origBP;
mc.publish = origPub;
for (let i = 0; i < 200; i++) await ctl.ping(device);
const cached: number[] = [];
for (let i = 0; i < 1000; i++) cached.push(await ctl.ping(device));
const cs = summarize(cached);
console.log("cached-row ping p50", cs.p50.toFixed(3), "p99", cs.p99.toFixed(3));
(srv.services.devices as any).get = origGet;
const plain: number[] = [];
for (let i = 0; i < 1000; i++) plain.push(await ctl.ping(device));
const ps = summarize(plain);
console.log("normal ping p50", ps.p50.toFixed(3), "p99", ps.p99.toFixed(3));
process.exit(0);
