// @matrix: once
// The InfluxDB line-protocol endpoint takes writes from local programs only
// (docs/security.md): loopback alone does not keep out a web page open on the device (a
// cross-origin POST needs no preflight) nor a DNS-rebound name, so a request with an Origin or
// a non-loopback Host is refused (403) and stores nothing, while Telegraf-style clients write.
import assert from "node:assert/strict";
import http from "node:http";
import { test } from "node:test";
import { Drops } from "../src/capabilities/metrics/drops.js";
import { startInfluxEndpoint } from "../src/capabilities/metrics/influx-server.js";
import type { Sample } from "../src/capabilities/metrics/sample.js";

function post(port: number, headers: Record<string, string>, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port, path: "/write?precision=ms", method: "POST", headers },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

test("influx endpoint: browsers (an Origin) and rebound host names are refused; local clients write", async () => {
  const got: Sample[] = [];
  const ep = await startInfluxEndpoint({
    port: 0,
    drops: new Drops(),
    sink: (s) => got.push(...s),
    now: () => 1_760_000_000_000,
    onError: () => {},
  });
  try {
    const line = "robot_speed value=1 1760000000000";
    assert.equal(
      await post(ep.port, { origin: "https://evil.example", "content-type": "text/plain" }, line),
      403,
    );
    assert.equal(await post(ep.port, { host: "evil.example:8186" }, line), 403);
    assert.equal(got.length, 0, "nothing from a refused request is kept");
    assert.equal(await post(ep.port, {}, line), 204);
    assert.equal(await post(ep.port, { host: `localhost:${ep.port}` }, line), 204);
    assert.equal(got.length, 2);
  } finally {
    await ep.close();
  }
});
