/**
 * Projects (separate fleets) where you have a role: switch to one, choose where your sign-ins
 * land, create one (the server admin), delete an empty one you administer.
 */
import { type FormEvent, useState } from "react";
import { client } from "../../client";
import { fmtTime } from "../../format";
import { useSession } from "../../session";
import { ConfirmButton, FormCard, useAction, usePoll } from "../../ui";
import { isServerAdmin, LoadStatus, SERVER_PROJECT, sessionChanged } from "./shared";

export function ProjectsPage() {
  const s = useSession();
  const projects = usePoll(() => client.listProjects(), null);
  const act = useAction();
  const [said, setSaid] = useState<string | null>(null);
  const serverAdmin = isServerAdmin(s.me);
  // The project a sign-in naming none lands in: the user's choice, else the first by name.
  const landing = s.me.defaultProject ?? [...s.me.projects].map((p) => p.name).sort()[0];

  const after = async (text: string) => {
    setSaid(text);
    await projects.reload();
    sessionChanged();
  };

  return (
    <>
      <header className="page-head">
        <h1>Projects</h1>
        <span className="summary">
          Each project is a separate fleet, with its own devices, users and audit log.
        </span>
      </header>

      {serverAdmin ? (
        <NewProject onCreated={(name) => void after(`Project ${name} created; you are its admin.`)} />
      ) : (
        <p className="card muted">
          Creating projects is for the server admin (an admin of the {SERVER_PROJECT} project).
        </p>
      )}

      <div className="card">
        <h2>Your projects</h2>
        <LoadStatus load={projects} actionError={act.error} said={said} />
        {projects.data && (
          <table className="projects-table">
            <thead>
              <tr>
                <th>Project</th>
                <th>Your role</th>
                <th>Created</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {projects.data.map((p) => {
                const current = p.name === s.project;
                return (
                  <tr key={p.id} data-project={p.name} className={current ? "current" : undefined}>
                    <td>
                      <strong>{p.name}</strong>
                      {current && <span className="badge state-accepted">current</span>}
                      {p.name === landing && (
                        <span className="badge" title="Your sign-ins land in this project">
                          your default
                        </span>
                      )}
                    </td>
                    <td>{p.role}</td>
                    <td>{fmtTime(p.createdAt)}</td>
                    <td className="row-actions">
                      {!current && (
                        <button type="button" className="small" onClick={() => sessionChanged(p.name)}>
                          Switch to {p.name}
                        </button>
                      )}
                      {p.name !== landing && (
                        <button
                          type="button"
                          className="small"
                          disabled={act.busy}
                          onClick={() =>
                            void act.run(async () => {
                              await client.setDefaultProject(p.name);
                              await after(`Your sign-ins now land in ${p.name}.`);
                            })
                          }
                        >
                          Make default
                        </button>
                      )}
                      {p.role === "admin" && p.name !== SERVER_PROJECT && (
                        <ConfirmButton
                          label="Delete…"
                          question={`Delete project ${p.name}? This cannot be undone. It must have no devices left.`}
                          yes={`Yes, delete ${p.name}`}
                          busy={act.busy}
                          onConfirm={() =>
                            act.run(async () => {
                              await client.deleteProject(p.name);
                              setSaid(`Project ${p.name} deleted.`);
                              // Deleted the project we are in: move to another one of ours.
                              const other = projects.data?.find((x) => x.name !== p.name)?.name;
                              if (current && other) sessionChanged(other);
                              else await after(`Project ${p.name} deleted.`);
                            })
                          }
                        />
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </div>
    </>
  );
}

function NewProject({ onCreated }: { onCreated: (name: string) => void }) {
  const [name, setName] = useState("");
  const act = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const n = name.trim();
    await act.run(async () => {
      await client.createProject(n);
      setName("");
      onCreated(n);
    });
  };
  return (
    <FormCard
      title="New project"
      onSubmit={submit}
      busy={act.busy}
      submit="Create project"
      busyText="Creating…"
      error={act.error}
    >
      <label>
        <span>Name</span>
        <input
          name="project-name"
          required
          pattern="[A-Za-z0-9._\-]{1,64}"
          title="letters, digits, . _ - (up to 64)"
          placeholder="e.g. warehouse-2"
          value={name}
          onChange={(e) => setName(e.target.value)}
        />
      </label>
    </FormCard>
  );
}
