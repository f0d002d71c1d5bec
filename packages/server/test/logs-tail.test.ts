// @matrix: store
// The live log tail (docs/protocol.md §15) in a real server: SSE lines of the watched devices
// with filters, viewers allowed and other projects refused; resume with Last-Event-ID after a
// server restart yields exactly the missed lines and then live ones; a client that does not
// read gets `lagged` with the count of skipped lines.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { cleanupTempDirs, tempDir, waitFor } from "../../../tests/e2e/harness.js";
import { startLogsServer, type LogsServer, sse, uploadOk } from "./logs-support.js";

let s: LogsServer | undefined;
after(async () => {
  await s?.srv.close();
  await cleanupTempDirs();
});

const line = (msg: string, lvl = "info") => ({ t: Date.now(), src: "/var/log/app.log", msg, lvl });

test("tail: live lines with filters; resume across a restart without duplicates or holes; a slow reader is told it lagged", async () => {
  const dir = tempDir("tether-logs-tail-");
  s = await startLogsServer(dir);
  const one = sse(s, "/api/v1/logs/stream?device=robot-1&level=warn", s.viewerToken);
  const grep = sse(s, "/api/v1/logs/stream?selector=site=tokyo&q=MOTOR", s.viewerToken);
  const stranger = await sse(s, "/api/v1/logs/stream?device=robot-1", "nope").opened;
  assert.equal(stranger.status, 401);
  assert.equal((await one.opened).status, 200);
  assert.equal((await grep.opened).status, 200);
  await uploadOk(s, "l1-0001", 1, { logs: [line("boot ok"), line("motor hot", "warn")] });
  await uploadOk(s, "l2-0002", 1, { logs: [line("Motor cold", "debug")] });
  await uploadOk(s, "l3-0003", 1, { logs: [line("motor osaka", "error")] });
  await waitFor(() => grep.lines().length === 2, "both tokyo motor lines");
  assert.deepEqual(
    grep.lines().map((l) => [l.device, l.message]),
    [
      ["robot-1", "motor hot"],
      ["robot-2", "Motor cold"],
    ],
  );
  await waitFor(() => one.lines().length === 1, "robot-1's warning");
  assert.equal(one.lines()[0]!.message, "motor hot");
  assert.equal(one.events[0]!.id, one.lines()[0]!.id);
  const lastSeen = one.events[0]!.id!;
  one.close();
  grep.close();

  // The server restarts; meanwhile the device's next lines arrive after it is back.
  await s.srv.close();
  s = await startLogsServer(dir, { logs: { tailBufferBytes: 64 * 1024 } }, false);
  await uploadOk(s, "l1-0001", 2, {
    logs: [line("missed one", "error"), line("quiet", "debug"), line("missed two", "warn")],
  });
  const back = sse(s, "/api/v1/logs/stream?device=robot-1&level=warn", s.adminToken, {
    "last-event-id": lastSeen,
  });
  assert.equal((await back.opened).status, 200);
  await waitFor(() => back.lines().length === 2, "the missed lines");
  await uploadOk(s, "l1-0001", 3, { logs: [line("live again", "warn")] });
  await waitFor(() => back.lines().length === 3, "the live line");
  assert.deepEqual(
    back.lines().map((l) => l.message),
    ["missed one", "missed two", "live again"],
  );
  const ids = back.events.map((e) => BigInt(e.id!));
  assert.ok(
    ids.every((id, i) => i === 0 || id > ids[i - 1]!),
    "ids increase",
  );
  // ?after= works too and a bad one is refused.
  const viaQuery = sse(s, `/api/v1/logs/stream?device=robot-1&level=warn&after=${lastSeen}`, s.adminToken);
  await waitFor(() => viaQuery.lines().length === 3, "the same lines via ?after=");
  viaQuery.close();
  assert.equal((await sse(s, "/api/v1/logs/stream?after=x", s.adminToken).opened).status, 400);
  back.close();

  // A reader that stops reading: lines beyond its buffer are skipped and counted.
  const slow = sse(s, "/api/v1/logs/stream?device=robot-2", s.adminToken);
  assert.equal((await slow.opened).status, 200);
  slow.pause();
  const big = "x".repeat(16_000);
  let seq = 2;
  await waitFor(
    async () => {
      await uploadOk(s!, "l2-0002", seq++, {
        logs: Array.from({ length: 50 }, (_, i) => line(`${i} ${big}`)),
      });
      return s!.srv.capabilities.logs.tail.slowDropped > 0;
    },
    "lines dropped for the slow reader",
    60_000,
  );
  slow.resume();
  const lagged = await waitFor(() => slow.events.find((e) => e.event === "lagged"), "the lagged event");
  assert.ok(lagged.data.dropped > 0);
  slow.close();
});
