// @matrix: once
/**
 * An external Mosquitto over TLS with its own CA (not Tether's): `--broker-ca` makes the
 * server trust it and hands it to agents in the signed enrollment answer.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { type InProcessServer, startInProcessServer } from "../support/in-process-server.js";
import { type MosquittoHandle, mosquittoSkipReason, startMosquitto } from "../support/mosquitto.js";
import {
  type AgentHandle,
  cleanupTempDirs,
  createToken,
  freePort,
  startAgent,
  TEST_BROKER,
  TEST_DB,
  tempDir,
  waitFor,
} from "./harness.js";

const skip =
  TEST_DB !== "sqlite" || TEST_BROKER !== "embedded"
    ? "runs once, in the first pass; it brings its own Mosquitto"
    : mosquittoSkipReason();

function makeCa(dir: string): { ca: string; cert: string; key: string } {
  const run = (args: string[]) =>
    execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  run([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-days",
    "2",
    "-subj",
    "/CN=Broker Test CA",
    "-keyout",
    "ca-key.pem",
    "-out",
    "ca.pem",
  ]);
  run([
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-subj",
    "/CN=localhost",
    "-keyout",
    "broker-key.pem",
    "-out",
    "broker.csr",
  ]);
  execFileSync("sh", ["-c", "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.ext"], { cwd: dir });
  run([
    "x509",
    "-req",
    "-in",
    "broker.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca-key.pem",
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    "san.ext",
    "-out",
    "broker.pem",
  ]);
  return { ca: join(dir, "ca.pem"), cert: join(dir, "broker.pem"), key: join(dir, "broker-key.pem") };
}

describe("external broker over TLS with its own CA", { skip }, () => {
  let mosq: MosquittoHandle | undefined;
  let server: InProcessServer | undefined;
  let agent: AgentHandle | undefined;
  after(async () => {
    await agent?.stop();
    await server?.srv.close();
    await mosq?.stop();
    await cleanupTempDirs();
  });

  test("agents verify the broker with the CA from --broker-ca and the channel works", async () => {
    const certs = makeCa(tempDir());
    const tlsPort = await freePort();
    mosq = await startMosquitto({
      extraConfig: [
        `listener ${tlsPort} 127.0.0.1`,
        `cafile ${certs.ca}`,
        `certfile ${certs.cert}`,
        `keyfile ${certs.key}`,
      ],
    });
    server = await startInProcessServer({
      dataDir: join(tempDir(), "server"),
      broker: { url: `mqtts://localhost:${tlsPort}`, adminFile: mosq.adminFile, caFile: certs.ca },
    });
    const { api, url } = server;
    const token = await createToken(api, { autoAccept: true });
    agent = startAgent({ dataDir: join(tempDir(), "agent"), url, token, name: "tls-1" });
    await waitFor(async () => {
      if (agent!.proc.exitCode !== null) throw new Error(`agent exited: ${agent!.stderr().slice(-2000)}`);
      return (await api.request("GET", "/api/v1/devices/tls-1")).body?.online;
    }, "agent online over TLS");
    const identity = JSON.parse(readFileSync(join(agent.dataDir, "identity.json"), "utf8"));
    assert.equal(
      identity.broker.caCert.trim(),
      readFileSync(certs.ca, "utf8").trim(),
      "the agent got the broker's CA",
    );
    assert.match(
      agent.stderr(),
      new RegExp(`"url":"mqtts://localhost:${tlsPort}","msg":"connected to broker"`),
    );
    const r = await api.call<{ rttMs: number }>("POST", "/api/v1/devices/tls-1/ping", {});
    assert.ok(r.rttMs > 0);
  });
});
