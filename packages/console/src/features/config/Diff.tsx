/** A values diff as lines: "+ key = value", "− key = value", "~ key: old → new"; secrets named, never shown. */
import { SECRET_MASK } from "@tether/protocol/config";
import type { ConfigDiff } from "./api";
import { valueText } from "./shared";

export interface DiffLine {
  key: string;
  op: "added" | "removed" | "changed";
  from?: unknown;
  to?: unknown;
  secret?: boolean;
}

const SIGN = { added: "+", removed: "−", changed: "~" } as const;

export function DiffLines({ lines, empty = "No changes." }: { lines: DiffLine[]; empty?: string }) {
  if (lines.length === 0) return <p className="muted diff-empty">{empty}</p>;
  return (
    <ul className="diff-lines" aria-label="Changes">
      {lines.map((l) => (
        <li key={l.key} className={`diff-line diff-${l.op}`} data-op={l.op} data-key={l.key}>
          <span className="diff-sign" aria-hidden="true">
            {SIGN[l.op]}
          </span>{" "}
          <span className="diff-key">{l.key}</span>
          {l.secret ? (
            <span className="muted">
              {" "}
              (secret) {l.op === "added" ? "added" : l.op === "removed" ? "removed" : "replaced"}{" "}
              {SECRET_MASK}
            </span>
          ) : l.op === "added" ? (
            <>
              {" "}
              = <code className="diff-to">{valueText(l.to)}</code>
            </>
          ) : l.op === "removed" ? (
            <>
              {" "}
              <span className="muted">was</span> <code className="diff-from">{valueText(l.from)}</code>
            </>
          ) : (
            <>
              : <code className="diff-from">{valueText(l.from)}</code> →{" "}
              <code className="diff-to">{valueText(l.to)}</code>
            </>
          )}
        </li>
      ))}
    </ul>
  );
}

/** A server diff between two revisions: the values, then the files (a text diff when there is one). */
export function RevisionDiff({ diff }: { diff: ConfigDiff }) {
  return (
    <div className="revision-diff">
      <DiffLines
        lines={diff.entries}
        empty={
          diff.files.length
            ? "No value changed."
            : `Revisions ${diff.from} and ${diff.to} have the same content.`
        }
      />
      {diff.files.length > 0 && (
        <ul className="diff-files">
          {diff.files.map((f) => (
            <li key={f.path} className={`diff-line diff-${f.op}`} data-op={f.op}>
              <span className="diff-sign" aria-hidden="true">
                {SIGN[f.op]}
              </span>{" "}
              file <span className="diff-key">{f.path}</span> {f.op}
              {f.secret && <span className="muted"> (secret: content not shown)</span>}
              {f.text && <pre className="file-diff">{f.text}</pre>}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
