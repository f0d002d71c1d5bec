// @matrix: once
// The telemetry layer's download of configuration files (docs/protocol.md §18.4): HTTPS with the
// pinned CA and the device token (the next one first, the current one after a 401), streamed to a
// file, `x-tether-sealed` reported, a body above the cap refused, an error answer's code kept.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import pino from "pino";
import { createTelemetry } from "../src/telemetry/index.js";
import { makeCert, tokenOf } from "./telemetry-test-server.js";

const tls = makeCert();
const A = tokenOf("A");
const B = tokenOf("B");
const blob = Buffer.alloc(100_000, 9);
const seen: { path: string; auth: string }[] = [];

const server = https.createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
  seen.push({ path: req.url ?? "", auth: req.headers.authorization ?? "" });
  if (req.headers.authorization !== `Bearer ${A}`) {
    res.writeHead(401, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { code: "TETHER_ERR_UNAUTHENTICATED", message: "bad token" } }));
    return;
  }
  if (req.url === "/api/v1/config/blobs/big") {
    res.writeHead(200, { "x-tether-sealed": "1" });
    res.end(blob);
    return;
  }
  res.writeHead(404, { "content-type": "application/json" });
  res.end(JSON.stringify({ error: { code: "TETHER_ERR_CONFIG_BLOB_NOT_FOUND", message: "no such file" } }));
});
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
const dataDir = mkdtempSync(join(tmpdir(), "tether-config-dl-"));
const tel = createTelemetry({
  dataDir,
  deviceId: "dev_dl",
  apiUrl: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
  caCert: tls.cert,
  log: pino({ level: "silent" }),
});
after(async () => {
  await tel.stop();
  server.close();
  rmSync(dataDir, { recursive: true, force: true });
});

test("downloads with the device token, falling back from a refused next token to the current one", async () => {
  tel.storeToken(A);
  const dest = join(dataDir, "out.bin");
  assert.ok(tel.download);
  const r = await tel.download("/api/v1/config/blobs/big", dest, blob.length);
  assert.deepEqual(r, { sealed: true, bytes: blob.length });
  assert.ok(readFileSync(dest).equals(blob));
  // A rotated token the server does not know yet: tried first (it is `next`), then the current one.
  tel.storeToken(B);
  seen.length = 0;
  await tel.download("/api/v1/config/blobs/big", dest, blob.length);
  assert.deepEqual(
    seen.map((s) => s.auth),
    [`Bearer ${B}`, `Bearer ${A}`],
  );
  assert.deepEqual(
    seen.map((s) => s.path),
    ["/api/v1/config/blobs/big", "/api/v1/config/blobs/big"],
  );
});

test("a body above the cap is refused and nothing is left behind; error answers keep their code", async () => {
  const dest = join(dataDir, "capped.bin");
  await assert.rejects(
    tel.download!("/api/v1/config/blobs/big", dest, 1000),
    /more than the expected 1000|larger than/,
  );
  assert.equal(existsSync(dest), false);
  await assert.rejects(
    tel.download!("/api/v1/config/blobs/nope", join(dataDir, "x"), 1000),
    (err: Error & { status?: number; code?: string }) =>
      err.status === 404 &&
      err.code === "TETHER_ERR_CONFIG_BLOB_NOT_FOUND" &&
      /no such file/.test(err.message),
  );
});
