/**
 * One layer (project defaults, a group, a device's own): its values in a JSON editor with the
 * difference from what was loaded shown before saving, a message and an optional staged
 * rollout; the keys (secrets masked, Replace and Remove); files with upload; the history with
 * each revision's difference and Rollback. Saves carry the revision the editor loaded, so a
 * layer changed meanwhile is a conflict (Reload), never an overwrite.
 */
import {
  CANARY_PATTERN,
  diffValues,
  flattenValues,
  isPlainObject,
  parseKeyPath,
  SECRET_MASK,
  unsetPath,
} from "@tether/protocol/config";
import { ApiError } from "@tether/sdk";
import { type FormEvent, useCallback, useEffect, useMemo, useState } from "react";
import { fmtBytes, fmtTime, parseDuration } from "../../format";
import { useSession } from "../../session";
import {
  ConfirmButton,
  ErrorNotice,
  PollStatus,
  StaleScope,
  useAction,
  useNow,
  usePoll,
  useStaleAsOf,
} from "../../ui";
import {
  type ConfigChange,
  type ConfigDiff,
  type ConfigLayerView,
  type ConfigRevision,
  type ConfigRevisionView,
  configApi,
  type RolloutSpec,
} from "./api";
import { DiffLines, RevisionDiff } from "./Diff";
import {
  BackToConfig,
  Named,
  RolloutActions,
  RolloutProgress,
  rolloutHref,
  rolloutSentence,
  since,
  Value,
} from "./shared";

const REFRESH_MS = 5000;

/** The layer's non-secret tree (what the editor edits): its values without the secret keys. */
function plainTree(v: ConfigLayerView): Record<string, unknown> {
  let t = v.values;
  for (const k of v.secretKeys) {
    try {
      t = unsetPath(t, parseKeyPath(k));
    } catch {
      // A key the server sent is valid; nothing to strip otherwise.
    }
  }
  return t;
}

const pretty = (t: unknown): string => `${JSON.stringify(t, null, 2)}\n`;

/** What the editor was opened on: a revision and its tree. */
interface Base {
  revision: number | null;
  tree: Record<string, unknown>;
}

function parseEditor(text: string): { tree?: Record<string, unknown>; error?: string } {
  if (!text.trim()) return { tree: {} };
  try {
    const v: unknown = JSON.parse(text);
    if (!isPlainObject(v)) return { error: 'The values must be a JSON object: { "key": value, … }.' };
    return { tree: v };
  } catch (err) {
    return { error: `Not valid JSON: ${(err as Error).message}.` };
  }
}

export function LayerPage({ layerRef }: { layerRef: string }) {
  const view = usePoll(() => configApi.layer(layerRef), REFRESH_MS, [layerRef]);
  const history = usePoll(() => configApi.history(layerRef), REFRESH_MS, [layerRef]);
  const v = view.data;
  const reloadAll = useCallback(() => {
    void view.reload();
    void history.reload();
  }, [view.reload, history.reload]);

  return (
    <section className="config-page layer-page">
      <BackToConfig />
      <PollStatus poll={view} />
      {!v && !view.failure && <p className="muted">Loading…</p>}
      {v && (
        <StaleScope asOf={view.stale ? view.asOf : null}>
          <LayerHead v={v} />
          {v.rollout && (
            <div className="card rollout-banner" data-rollout={v.rollout.id}>
              <h2>
                Rollout of revision {v.rollout.revision} in progress{" "}
                <a className="small-link" href={rolloutHref(v.rollout.id)}>
                  devices…
                </a>
              </h2>
              <RolloutProgress r={v.rollout} />
              <p>{rolloutSentence(v.rollout)}</p>
              <p className="muted">This layer cannot change until the rollout is done or aborted.</p>
              <RolloutActions r={v.rollout} onDone={reloadAll} />
            </div>
          )}
          <Editor key={layerRef} layerRef={layerRef} view={v} onChanged={reloadAll} />
          <Keys layerRef={layerRef} view={v} onChanged={reloadAll} />
          <Files layerRef={layerRef} view={v} onChanged={reloadAll} />
          <History view={v} poll={history} onChanged={reloadAll} />
        </StaleScope>
      )}
    </section>
  );
}

function LayerHead({ v }: { v: ConfigLayerView }) {
  const now = useNow(10_000);
  const title =
    v.kind === "defaults"
      ? "Project defaults"
      : v.kind === "group"
        ? `Group ${v.layer.slice(6)}`
        : v.layerLabel;
  return (
    <header className="page-head layer-head">
      <h1>{title}</h1>
      <span className="summary">
        {v.revision === null ? (
          "never written"
        ) : (
          <>
            revision <b className="layer-revision">{v.revision}</b>
            {v.updatedAt && (
              <span className="muted" title={fmtTime(v.updatedAt)}>
                {" "}
                · saved {since(v.updatedAt, now)}
                {v.updatedBy && ` by ${v.updatedBy}`}
              </span>
            )}
          </>
        )}
      </span>
      {v.group && (
        <span className="muted">
          · selector <code>{v.group.selector}</code> · priority {v.group.priority}
        </span>
      )}
      {v.device && (
        <span className="muted">
          · <a href={`#/devices/${encodeURIComponent(v.device.id)}`}>device {v.device.name}</a>
        </span>
      )}
    </header>
  );
}

/** What the parts of a layer's page get: the layer, as last loaded, and what to call after a change. */
interface LayerPartProps {
  layerRef: string;
  view: ConfigLayerView;
  onChanged: () => void;
}

/** Remove a key or a file (`file:PATH`) from the layer, after a question. */
function RemoveFromLayer({
  layerRef,
  view,
  onChanged,
  unset,
  question,
  yes,
  message,
}: LayerPartProps & { unset: string; question: string; yes: string; message: string }) {
  const stale = useStaleAsOf() !== null;
  return (
    <ConfirmButton
      label="Remove"
      question={question}
      yes={yes}
      busy={stale}
      onConfirm={async () => {
        await configApi.patch(layerRef, { unset: [unset], baseRevision: view.revision, message });
        onChanged();
      }}
    />
  );
}

// --- the editor ---------------------------------------------------------------------------

function RolloutFields({
  on,
  setOn,
  canary,
  setCanary,
  wait,
  setWait,
  maxFailures,
  setMaxFailures,
}: {
  on: boolean;
  setOn: (b: boolean) => void;
  canary: string;
  setCanary: (s: string) => void;
  wait: string;
  setWait: (s: string) => void;
  maxFailures: string;
  setMaxFailures: (s: string) => void;
}) {
  return (
    <fieldset className="rollout-fields">
      <label className="check">
        <input type="checkbox" checked={on} onChange={(e) => setOn(e.target.checked)} />
        <span>Roll out in stages (a canary first)</span>
      </label>
      {on && (
        <div className="rollout-inputs">
          <label>
            <span>Canary</span>
            <input
              aria-label="Canary"
              value={canary}
              placeholder="2 or 10%"
              onChange={(e) => setCanary(e.target.value)}
            />
            <small>Devices (or a percentage) first.</small>
          </label>
          <label>
            <span>Then wait</span>
            <input
              aria-label="Wait"
              value={wait}
              placeholder="10m"
              onChange={(e) => setWait(e.target.value)}
            />
            <small>Empty: wait for Resume.</small>
          </label>
          <label>
            <span>Max failures</span>
            <input
              aria-label="Max failures"
              value={maxFailures}
              inputMode="numeric"
              onChange={(e) => setMaxFailures(e.target.value)}
            />
            <small>Pause when more fail.</small>
          </label>
        </div>
      )}
    </fieldset>
  );
}

function rolloutSpec(
  on: boolean,
  canary: string,
  wait: string,
  maxFailures: string,
): RolloutSpec | undefined {
  if (!on) return undefined;
  const c = canary.trim();
  if (!new RegExp(CANARY_PATTERN).test(c))
    throw new Error("The canary is a number of devices (e.g. 2) or a percentage (e.g. 10%)");
  const spec: RolloutSpec = { canary: c };
  if (wait.trim()) {
    const s = parseDuration(wait);
    if (s === null) throw new Error(`"${wait.trim()}" is not a duration (e.g. 90s, 10m, 1h)`);
    spec.waitMs = Math.round(s * 1000);
  }
  if (maxFailures.trim()) {
    const n = Number(maxFailures.trim());
    if (!Number.isInteger(n) || n < 0) throw new Error("Max failures is a whole number, 0 or more");
    spec.maxFailures = n;
  }
  return spec;
}

function changeSaid(c: ConfigChange): string {
  const who = `${c.affected} ${c.affected === 1 ? "device" : "devices"}`;
  return c.rollout
    ? `Saved as revision ${c.revision}; rolling out to ${who}, canary first.`
    : `Saved as revision ${c.revision}; sent to ${who}.`;
}

const isConflict = (e: unknown) => e instanceof ApiError && e.code === "TETHER_ERR_CONFIG_CONFLICT";

function Editor({ layerRef, view, onChanged: onSaved }: LayerPartProps) {
  const canOperate = useSession().can("operator");
  const stale = useStaleAsOf() !== null;
  const [base, setBase] = useState<Base>(() => ({ revision: view.revision, tree: plainTree(view) }));
  const [text, setText] = useState(() => pretty(base.tree));
  const [message, setMessage] = useState("");
  const [staged, setStaged] = useState(false);
  const [canary, setCanary] = useState("1");
  const [wait, setWait] = useState("");
  const [maxFailures, setMaxFailures] = useState("0");
  const [said, setSaid] = useState<string | null>(null);
  const act = useAction();

  const parsed = useMemo(() => parseEditor(text), [text]);
  const lines = useMemo(() => (parsed.tree ? diffValues(base.tree, parsed.tree) : []), [base, parsed]);
  const dirty = lines.length > 0;
  const changedUnderneath = view.revision !== base.revision;

  const reload = async () => {
    const fresh = await configApi.layer(layerRef);
    const tree = plainTree(fresh);
    setBase({ revision: fresh.revision, tree });
    setText(pretty(tree));
    act.setError(null);
    setSaid(null);
    onSaved();
  };

  // The editor follows the saved layer while nothing is typed (e.g. a secret or file change of ours).
  useEffect(() => {
    if (!dirty && !act.busy && view.revision !== base.revision) {
      const tree = plainTree(view);
      setBase({ revision: view.revision, tree });
      setText(pretty(tree));
    }
  }, [view, dirty, act.busy, base.revision]);

  const save = (e: FormEvent) => {
    e.preventDefault();
    setSaid(null);
    void act.run(async () => {
      if (!parsed.tree) throw new Error(parsed.error ?? "The values are not valid JSON");
      try {
        const rollout = rolloutSpec(staged, canary, wait, maxFailures);
        const c = await configApi.patch(layerRef, {
          values: parsed.tree,
          baseRevision: base.revision,
          ...(message.trim() ? { message: message.trim() } : {}),
          ...(rollout ? { rollout } : {}),
        });
        const tree = parsed.tree;
        setBase({ revision: c.revision, tree });
        setText(pretty(tree));
        setMessage("");
        setSaid(changeSaid(c));
      } finally {
        // Saved or refused (a conflict, say): the page shows the layer as it is now.
        onSaved();
      }
    });
  };

  const rows = Math.min(30, Math.max(8, text.split("\n").length + 1));
  return (
    <div className="card editor-card">
      <h2>Values</h2>
      {!canOperate && <p className="muted">Viewers see the values; an operator can change them.</p>}
      <form className="form layer-editor" onSubmit={save}>
        <label>
          <span>
            Values (JSON{view.secretKeys.length > 0 ? "; secret keys are kept and edited below" : ""})
          </span>
          <textarea
            aria-label="Layer values"
            className="json-editor mono"
            spellCheck={false}
            rows={rows}
            value={text}
            readOnly={!canOperate}
            onChange={(e) => {
              setText(e.target.value);
              setSaid(null);
            }}
          />
        </label>
        {parsed.error && (
          <p className="error small editor-error" role="alert">
            {parsed.error}
          </p>
        )}
        {changedUnderneath && !isConflict(act.error) && (
          <p className="notice changed-notice" role="status">
            This layer was saved again since you opened it (now revision {view.revision}
            {view.updatedBy ? `, by ${view.updatedBy}` : ""}). Saving now would be refused.{" "}
            <button type="button" className="small" onClick={() => void reload()}>
              Reload
            </button>
          </p>
        )}
        {canOperate && (
          <>
            <div className="diff-box" aria-live="polite">
              <h3>
                {dirty
                  ? `Changes from revision ${base.revision ?? "(empty)"} — not saved yet`
                  : "No changes yet"}
              </h3>
              {dirty && <DiffLines lines={lines} />}
            </div>
            <label>
              <span>Message</span>
              <input
                aria-label="Change message"
                value={message}
                maxLength={1000}
                placeholder="why this change (shown in the history)"
                onChange={(e) => setMessage(e.target.value)}
              />
            </label>
            <RolloutFields
              on={staged}
              setOn={setStaged}
              canary={canary}
              setCanary={setCanary}
              wait={wait}
              setWait={setWait}
              maxFailures={maxFailures}
              setMaxFailures={setMaxFailures}
            />
            <div className="buttons save-row">
              <button
                type="submit"
                className="primary"
                disabled={!dirty || act.busy || stale || !!parsed.error}
              >
                {act.busy ? "Saving…" : "Save"}
              </button>
              {dirty && (
                <button
                  type="button"
                  onClick={() => {
                    setText(pretty(base.tree));
                    act.setError(null);
                  }}
                >
                  Undo changes
                </button>
              )}
              {!dirty && said && (
                <span className="ok" role="status">
                  {said}
                </span>
              )}
            </div>
          </>
        )}
      </form>
      {isConflict(act.error) ? (
        <ConflictNotice error={act.error as ApiError} onReload={() => void reload()} />
      ) : (
        <ErrorNotice error={act.error} />
      )}
    </div>
  );
}

function ConflictNotice({ error, onReload }: { error: ApiError; onReload: () => void }) {
  return (
    <div className="error error-notice conflict-notice" role="alert" data-code={error.code}>
      <div className="error-line">
        <span className="error-message">
          Someone saved this layer since you opened it, so your change was not saved. Reload to see their
          version (your edits are replaced), then make your change again.
        </span>
        <button type="button" className="small" onClick={onReload}>
          Reload
        </button>
      </div>
      <div className="error-detail mono">
        {error.message} · {error.code}
      </div>
    </div>
  );
}

// --- keys and secrets ------------------------------------------------------------------------

function Keys({ layerRef, view, onChanged }: LayerPartProps) {
  const canOperate = useSession().can("operator");
  const secret = new Set(view.secretKeys);
  // A secret key's masked value is a leaf in `values`.
  const rows = flattenValues(view.values);
  for (const k of view.secretKeys) if (!rows.some(([r]) => r === k)) rows.push([k, SECRET_MASK]);
  rows.sort(([a], [b]) => a.localeCompare(b));
  return (
    <div className="card keys-card">
      <h2>Keys {rows.length > 0 && <span className="muted">({rows.length})</span>}</h2>
      {rows.length === 0 ? (
        <p className="muted">This layer sets no keys yet.</p>
      ) : (
        <table className="config-keys">
          <thead>
            <tr>
              <th>Key</th>
              <th>Value</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {rows.map(([k, val]) => (
              <tr key={k} data-key={k} data-secret={secret.has(k) || undefined}>
                <td className="key-cell">
                  <Named name={k} secret={secret.has(k)} />
                </td>
                <td className="wrap">
                  <Value value={val} secret={secret.has(k)} />
                </td>
                <td className="nowrap">
                  {canOperate && secret.has(k) && (
                    <SecretActions layerRef={layerRef} view={view} k={k} onChanged={onChanged} />
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {canOperate && <AddSecret layerRef={layerRef} view={view} onChanged={onChanged} />}
    </div>
  );
}

/** A secret's value as typed: JSON when it parses, else the text. */
const secretValue = (s: string): unknown => {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
};

/** Set one secret key of the layer to the value as typed. */
const setSecret = (layerRef: string, view: ConfigLayerView, key: string, value: string, message: string) =>
  configApi.patch(layerRef, {
    set: [{ key, value: secretValue(value), secret: true }],
    baseRevision: view.revision,
    message,
  });

function SecretActions({ layerRef, view, k, onChanged }: LayerPartProps & { k: string }) {
  const [replacing, setReplacing] = useState(false);
  const [value, setValue] = useState("");
  const act = useAction();
  const stale = useStaleAsOf() !== null;
  if (replacing)
    return (
      <form
        className="inline-form secret-form"
        onSubmit={(e) => {
          e.preventDefault();
          void act.run(async () => {
            await setSecret(layerRef, view, k, value, `replace secret ${k}`);
            setReplacing(false);
            setValue("");
            onChanged();
          });
        }}
      >
        <input
          type="password"
          aria-label={`New value of ${k}`}
          autoComplete="off"
          value={value}
          onChange={(e) => setValue(e.target.value)}
        />
        <button type="submit" className="small primary" disabled={act.busy || !value}>
          Save secret
        </button>
        <button type="button" className="small" onClick={() => setReplacing(false)}>
          Cancel
        </button>
        <ErrorNotice error={act.error} compact />
      </form>
    );
  return (
    <div className="buttons">
      <button type="button" className="small" disabled={stale} onClick={() => setReplacing(true)}>
        Replace
      </button>
      <RemoveFromLayer
        layerRef={layerRef}
        view={view}
        onChanged={onChanged}
        unset={k}
        question={`Remove secret ${k} from this layer?`}
        yes="Remove"
        message={`remove secret ${k}`}
      />
    </div>
  );
}

function AddSecret({ layerRef, view, onChanged }: LayerPartProps) {
  const [open, setOpen] = useState(false);
  const [key, setKey] = useState("");
  const [value, setValue] = useState("");
  const act = useAction();
  if (!open)
    return (
      <div className="buttons card-foot">
        <button type="button" onClick={() => setOpen(true)}>
          Add a secret…
        </button>
        <span className="muted">Secret values are write-only: nobody can read them back here.</span>
      </div>
    );
  return (
    <form
      className="inline-form secret-form card-foot"
      onSubmit={(e) => {
        e.preventDefault();
        void act.run(async () => {
          parseKeyPath(key.trim());
          await setSecret(layerRef, view, key.trim(), value, `set secret ${key.trim()}`);
          setOpen(false);
          setKey("");
          setValue("");
          onChanged();
        });
      }}
    >
      <input
        aria-label="Secret key"
        placeholder="cloud.api_key"
        value={key}
        onChange={(e) => setKey(e.target.value)}
      />
      <input
        type="password"
        aria-label="Secret value"
        autoComplete="off"
        placeholder="value"
        value={value}
        onChange={(e) => setValue(e.target.value)}
      />
      <button type="submit" className="primary" disabled={act.busy || !key.trim() || !value}>
        Save secret
      </button>
      <button type="button" onClick={() => setOpen(false)}>
        Cancel
      </button>
      <ErrorNotice error={act.error} compact />
    </form>
  );
}

// --- files -----------------------------------------------------------------------------------

function Files({ layerRef, view, onChanged }: LayerPartProps) {
  const canOperate = useSession().can("operator");
  const stale = useStaleAsOf() !== null;
  const [file, setFile] = useState<File | null>(null);
  const [path, setPath] = useState("");
  const [secret, setSecret] = useState(false);
  const [inputKey, setInputKey] = useState(0);
  const [said, setSaid] = useState<string | null>(null);
  const act = useAction();
  const upload = (e: FormEvent) => {
    e.preventDefault();
    setSaid(null);
    void act.run(async () => {
      if (!file) throw new Error("Choose a file to upload");
      const p = path.trim() || file.name;
      const c = await configApi.uploadFile(layerRef, {
        path: p,
        body: file,
        secret,
        baseRevision: view.revision,
      });
      setSaid(`${p}: ${changeSaid(c)}`);
      setFile(null);
      setPath("");
      setSecret(false);
      setInputKey((n) => n + 1);
      onChanged();
    });
  };
  return (
    <div className="card files-card">
      <h2>Files {view.files.length > 0 && <span className="muted">({view.files.length})</span>}</h2>
      {view.files.length === 0 ? (
        <p className="muted">
          No files. A file is written on the device under config/files/; JSON and YAML files merge across
          layers.
        </p>
      ) : (
        <table className="config-files">
          <thead>
            <tr>
              <th>File</th>
              <th>Size</th>
              <th>Kind</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {view.files.map((f) => (
              <tr key={f.path} data-file={f.path}>
                <td className="wrap">
                  <Named name={f.path} secret={f.secret} />
                </td>
                <td className="nowrap">{fmtBytes(f.size)}</td>
                <td>{f.kind === "raw" ? "replaced whole" : `${f.kind}, merged`}</td>
                <td>
                  {canOperate && (
                    <RemoveFromLayer
                      layerRef={layerRef}
                      view={view}
                      onChanged={onChanged}
                      unset={`file:${f.path}`}
                      question={`Remove ${f.path} from this layer?`}
                      yes="Remove file"
                      message={`remove file ${f.path}`}
                    />
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {canOperate && (
        <form className="inline-form upload-form card-foot" onSubmit={upload}>
          <input
            key={inputKey}
            type="file"
            aria-label="File to upload"
            onChange={(e) => {
              const f = e.target.files?.[0] ?? null;
              setFile(f);
              if (f && !path) setPath(f.name);
            }}
          />
          <input
            aria-label="Path on the device"
            className="path-input"
            placeholder="path, e.g. nav/params.yaml"
            value={path}
            onChange={(e) => setPath(e.target.value)}
          />
          <label className="check">
            <input type="checkbox" checked={secret} onChange={(e) => setSecret(e.target.checked)} /> secret
          </label>
          <button type="submit" disabled={act.busy || !file || stale}>
            {act.busy ? "Uploading…" : "Upload"}
          </button>
          {said && (
            <span className="ok" role="status">
              {said}
            </span>
          )}
        </form>
      )}
      <ErrorNotice error={act.error} />
    </div>
  );
}

// --- history ---------------------------------------------------------------------------------

const KIND_TEXT: Record<string, string> = {
  change: "change",
  rollback: "rollback",
  "group-create": "group created",
  "group-update": "group changed",
  "group-delete": "group deleted",
  "rollout-abort": "rollout aborted",
  retarget: "retarget",
};

function History({
  view,
  poll,
  onChanged,
}: {
  view: ConfigLayerView;
  poll: ReturnType<typeof usePoll<ConfigRevision[]>>;
  onChanged: () => void;
}) {
  const now = useNow(10_000);
  const [open, setOpen] = useState<number | null>(null);
  const revs = poll.data ?? [];
  return (
    <div className="card history-card">
      <h2>History</h2>
      <PollStatus poll={poll} />
      {poll.data && revs.length === 0 && <p className="muted">No revision of this layer yet.</p>}
      {revs.length > 0 && (
        <table className="config-history">
          <thead>
            <tr>
              <th>Revision</th>
              <th>When</th>
              <th>By</th>
              <th>What</th>
              <th />
            </tr>
          </thead>
          {revs.map((r, i) => {
            const prev = revs[i + 1];
            const isOpen = open === r.revision;
            return (
              <tbody key={r.revision} className={isOpen ? "history-row open" : "history-row"}>
                <tr data-revision={r.revision}>
                  <td className="nowrap">
                    <b>{r.revision}</b>
                    {r.revision === view.revision && <span className="badge current-badge">current</span>}
                  </td>
                  <td className="nowrap" title={fmtTime(r.at)}>
                    {since(r.at, now)}
                  </td>
                  <td>{r.author}</td>
                  <td className="wrap">
                    <span className="badge">{KIND_TEXT[r.kind] ?? r.kind}</span>{" "}
                    {r.message ? (
                      <span className="rev-message">{r.message}</span>
                    ) : (
                      <span className="muted">no message</span>
                    )}
                    {r.restored !== null && <span className="muted"> (restored revision {r.restored})</span>}
                    {r.changed.length > 0 && (
                      <div className="sub changed-keys">changed: {r.changed.join(", ")}</div>
                    )}
                  </td>
                  <td className="nowrap">
                    <div className="buttons">
                      <button
                        type="button"
                        className="small"
                        aria-expanded={isOpen}
                        onClick={() => setOpen(isOpen ? null : r.revision)}
                      >
                        {isOpen ? "Hide changes" : "Changes"}
                      </button>
                      {r.revision !== view.revision && r.kind !== "group-delete" && (
                        <RollbackButton view={view} rev={r} onDone={onChanged} />
                      )}
                    </div>
                  </td>
                </tr>
                {isOpen && (
                  <tr className="history-detail">
                    <td colSpan={5}>
                      <RevisionChanges rev={r.revision} prev={prev?.revision ?? null} />
                    </td>
                  </tr>
                )}
              </tbody>
            );
          })}
        </table>
      )}
    </div>
  );
}

/** What revision `rev` changed from `prev` (the layer's previous revision); the first: its content. */
function RevisionChanges({ rev, prev }: { rev: number; prev: number | null }) {
  const load = usePoll<{ diff?: ConfigDiff; first?: ConfigRevisionView }>(
    async () =>
      prev === null ? { first: await configApi.revision(rev) } : { diff: await configApi.diff(prev, rev) },
    null,
    [rev, prev],
  );
  if (load.failure) return <ErrorNotice error={load.failure} onRetry={() => void load.reload()} compact />;
  if (!load.data) return <p className="muted">Loading…</p>;
  if (load.data.diff)
    return (
      <div className="diff-box">
        <h3>
          From revision {prev} to {rev}
        </h3>
        <RevisionDiff diff={load.data.diff} />
      </div>
    );
  const first = load.data.first as ConfigRevisionView;
  const secret = new Set(first.secretKeys);
  const lines = flattenValues(first.values).map(([key, to]) => ({
    key,
    op: "added" as const,
    to,
    secret: secret.has(key),
  }));
  return (
    <div className="diff-box">
      <h3>The layer's first revision</h3>
      <DiffLines lines={lines} empty="No values." />
      {first.files.length > 0 && <p className="muted">Files: {first.files.map((f) => f.path).join(", ")}</p>}
    </div>
  );
}

function RollbackButton({
  view,
  rev,
  onDone,
}: {
  view: ConfigLayerView;
  rev: ConfigRevision;
  onDone: () => void;
}) {
  const stale = useStaleAsOf() !== null;
  return (
    <ConfirmButton
      label="Roll back"
      question={`Make ${view.layerLabel} as it was at revision ${rev.revision}? This saves a new revision and sends it to the devices.`}
      yes={`Roll back to ${rev.revision}`}
      busy={stale || view.rollout !== null}
      onConfirm={async () => {
        await configApi.rollback({
          revision: rev.revision,
          baseRevision: view.revision,
          message: `roll back to revision ${rev.revision}`,
        });
        onDone();
      }}
    />
  );
}
