/** The device page's "Run command" panel (operators and admins): one shell command, live output. */
import type { Command, Device } from "@tether/sdk";
import { useEffect, useRef, useState } from "react";
import { client } from "../../client";
import { ErrorNotice, useAction } from "../../ui";
import {
  CancelCommandButton,
  CommandStateBadge,
  RunFacts,
  RunOutputView,
  TimingFields,
} from "./CommandParts";
import { runFields } from "./exec";
import { useCommand } from "./useCommand";

export function RunCommandPanel({ device, onRan }: { device: Device; onRan?: () => void }) {
  const [text, setText] = useState("");
  const [timeout, setTimeoutText] = useState("60");
  const [queueTtl, setQueueTtl] = useState("");
  const { busy, error, setError, run } = useAction();
  const [created, setCreated] = useState<Command | null>(null);
  const [running, setRunning] = useState(false);

  const submit = async () => {
    const f = runFields(text, timeout, queueTtl);
    if ("error" in f) return setError(f.error);
    await run(async () => {
      const c = await client.createCommand({ ...f.fields, devices: [device.id] });
      setCreated(c);
      setRunning(true);
      onRan?.();
    });
  };

  return (
    <div className="card run-panel">
      <h2>Run command</h2>
      <form
        className="run-form"
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <label className="grow">
          <span className="label-text">Command</span>
          <input
            id="run-command"
            className="mono"
            placeholder="uptime; df -h /"
            value={text}
            onChange={(e) => setText(e.target.value)}
            autoComplete="off"
            spellCheck={false}
          />
        </label>
        <TimingFields
          narrow
          timeout={timeout}
          onTimeout={setTimeoutText}
          queueTtl={queueTtl}
          onQueueTtl={setQueueTtl}
        />
        <button type="submit" className="primary" disabled={busy || running}>
          {busy ? "Starting…" : "Run"}
        </button>
      </form>
      <p className="muted small hint">
        Runs through <code>/bin/sh -c</code> as the agent's user.
        {!device.online &&
          (queueTtl.trim()
            ? " The device is offline now: the command waits for it to come back."
            : " The device is offline now: set “Wait if offline” (e.g. 10m) to queue the command, or it is reported offline at once.")}
      </p>
      <ErrorNotice error={error} compact />
      {created && (
        <CommandResult
          key={created.id}
          initial={created}
          onFinished={() => {
            setRunning(false);
            onRan?.();
          }}
        />
      )}
    </div>
  );
}

/** The single run of a one-device command, live. */
function CommandResult({ initial, onFinished }: { initial: Command; onFinished: () => void }) {
  const v = useCommand(initial.id, initial);
  const c = v.command;
  const run = v.runs[0];
  const running = c?.state === "running";
  const finished = !!c && !running;
  const onFinishedRef = useRef(onFinished);
  onFinishedRef.current = onFinished;
  useEffect(() => {
    if (finished) onFinishedRef.current();
  }, [finished]);

  return (
    <div className="run-result" data-command-id={initial.id}>
      <div className="run-result-head">
        {c && <CommandStateBadge state={c.state} />}
        <a className="small" href={`#/commands/${encodeURIComponent(initial.id)}`} title={initial.id}>
          Open the command's page
        </a>
        {v.live && <span className="live-dot">live</span>}
        {running && (
          <CancelCommandButton id={initial.id} className="danger-outline small" onCancelled={v.applyNow} />
        )}
      </div>
      <ErrorNotice error={v.error} compact />
      {run ? (
        <>
          <RunFacts run={run} />
          <RunOutputView run={run} output={v.output[run.deviceId]} />
        </>
      ) : (
        <p className="muted">Starting…</p>
      )}
    </div>
  );
}
