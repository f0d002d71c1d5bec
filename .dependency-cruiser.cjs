/**
 * Architecture rules (docs/architecture.md §10), checked by `npm run lint`:
 *
 *   depcruise packages --config .dependency-cruiser.cjs
 *
 * Every rule is `error`: one violation fails the lint. Paths are resolved file paths relative to the
 * repository root (`packages/server/src/control/router.ts`); workspace imports (`@tether/protocol`)
 * resolve to the package's TypeScript sources through the "source" export condition, and `./x.js`
 * resolves to `./x.ts`, exactly as `tsc` and `node --conditions=source` do. Type-only imports count:
 * `import type` across a boundary is still a dependency across it.
 *
 * Layer rules apply to `src/` only; tests under `packages/<pkg>/test/` may reach into internals to test
 * them (the package rules still apply to them).
 */

/**
 * The transport layers of the server and of the agent (they carry messages and know no capability), and
 * capability.ts, the interface every capability module implements.
 */
const TRANSPORT = "^packages/(server|agent)/src/((control|broker|store|telemetry|tunnels)/|capability[.]ts$)";
/** The capability modules and the one file that lists them. */
const CAPABILITIES = "^packages/(server|agent)/src/capabilities(/|[.]ts$)";
/** A package's own sources and tests, for the package-level rules. */
const pkg = (name) => `^packages/${name}/`;
/** Another workspace package, reached by path (relative import) or by name when it did not resolve. */
const workspace = (names) => `^(packages/(${names})/|@tether/(${names})($|/))`;

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment:
        "No import cycles anywhere in packages/*/src. Break a cycle with a port (an interface the lower " +
        "module owns and the higher one implements), or move the shared part down a layer " +
        "(docs/architecture.md §10).",
      from: { path: "^packages/[^/]+/src/" },
      to: { circular: true },
    },

    // --- Layers inside the server and the agent -------------------------------------------------------
    {
      name: "transport-not-capabilities",
      severity: "error",
      comment:
        "Transport layers (control/, broker/, store/, telemetry/, tunnels/) and the interface file " +
        "capability.ts never import a capability module or the module list capabilities.ts. " +
        "Capabilities plug into the transport, never the other way round (docs/architecture.md §7, §10).",
      from: { path: TRANSPORT },
      to: { path: CAPABILITIES },
    },
    {
      name: "capabilities-isolated",
      severity: "error",
      comment:
        "A capability module (capabilities/<a>/) imports no other capability module (capabilities/<b>/, " +
        "not even its index.ts) and not the module list capabilities.ts. Code two capabilities share " +
        "moves down into a transport layer, a core module or @tether/protocol (docs/architecture.md §10).",
      from: { path: "^packages/(server|agent)/src/capabilities/([^/]+)/" },
      to: {
        path: "^packages/(server|agent)/src/capabilities(/|[.]ts$)",
        pathNot: "^packages/$1/src/capabilities/$2/",
      },
    },
    {
      name: "server-capabilities-use-control-link",
      severity: "error",
      comment:
        "On the server a capability reaches the control channel only through the ControlLink port in " +
        "control/link.ts, which it gets injected; the router, sessions, inbox, sender, outbox and " +
        "presence are not its business (docs/architecture.md §7, §10).",
      from: { path: "^packages/server/src/capabilities/" },
      to: {
        path: "^packages/server/src/control/",
        pathNot: "^packages/server/src/control/link[.]ts$",
      },
    },
    {
      name: "telemetry-through-index",
      severity: "error",
      comment:
        "telemetry/ is imported from outside its folder only through telemetry/index.ts " +
        "(docs/architecture.md §10).",
      from: { path: "^packages/[^/]+/src/", pathNot: "^packages/[^/]+/src/telemetry/" },
      to: {
        path: "^packages/[^/]+/src/telemetry/",
        pathNot: "^packages/[^/]+/src/telemetry/index[.]ts$",
      },
    },
    {
      name: "tunnels-through-index",
      severity: "error",
      comment:
        "tunnels/ is imported from outside its folder only through tunnels/index.ts (docs/architecture.md §10).",
      from: { path: "^packages/[^/]+/src/", pathNot: "^packages/[^/]+/src/tunnels/" },
      to: {
        path: "^packages/[^/]+/src/tunnels/",
        pathNot: "^packages/[^/]+/src/tunnels/index[.]ts$",
      },
    },

    // --- Packages --------------------------------------------------------------------------------------
    {
      name: "protocol-standalone",
      severity: "error",
      comment:
        "@tether/protocol is the wire contract every other package builds on: it imports no other " +
        "workspace package (docs/architecture.md §4, §10).",
      from: { path: pkg("protocol") },
      to: { path: workspace("sdk|server|agent|cli|console|e2e|bench") },
    },
    {
      name: "sdk-only-protocol",
      severity: "error",
      comment: "@tether/sdk is an HTTP client: of the workspace it imports only @tether/protocol.",
      from: { path: pkg("sdk") },
      to: { path: workspace("server|agent|cli|console|e2e|bench") },
    },
    {
      name: "server-not-agent",
      severity: "error",
      comment:
        "The server imports no agent, CLI or console code; what both ends share is in @tether/protocol.",
      from: { path: pkg("server") },
      to: { path: workspace("agent|cli|console|sdk|e2e|bench") },
    },
    {
      name: "agent-not-server",
      severity: "error",
      comment:
        "The agent runs on small devices: it never imports @tether/server (or the CLI, console, SDK) and " +
        "none of the server's storage and broker libraries (better-sqlite3, aedes, kysely, pg).",
      from: { path: pkg("agent") },
      to: {
        path: [
          workspace("server|cli|console|sdk|e2e|bench"),
          "(^|/)node_modules/(better-sqlite3|aedes|aedes-[^/]+|kysely|pg|pg-[^/]+)/",
          "^(better-sqlite3|aedes|kysely|pg)($|/)",
        ],
      },
    },
    {
      name: "console-browser-only",
      severity: "error",
      comment:
        "The console runs in the browser: no node: (or other Node built-in) modules, no @tether/server, " +
        "@tether/agent or CLI code, and not the SDK's Node entry point @tether/sdk/node. It talks to the " +
        "server through @tether/sdk.",
      from: { path: "^packages/console/src/" },
      to: {
        dependencyTypes: ["core"],
      },
    },
    {
      name: "console-not-server-agent",
      severity: "error",
      comment: "See console-browser-only.",
      from: { path: "^packages/console/src/" },
      to: {
        path: [workspace("server|agent|cli|e2e|bench"), "^packages/sdk/src/node[.]ts$", "^@tether/sdk/node$"],
      },
    },
    {
      name: "browser-code-no-protocol-root",
      severity: "error",
      comment:
        "Code that runs in the browser (the console, and the SDK except its Node entry node.ts) imports " +
        "the root of @tether/protocol for types only: at run time the root pulls in node:crypto. It " +
        "uses the browser-safe entry points (@tether/protocol/api, /output, /validate) instead.",
      from: {
        path: ["^packages/console/src/", "^packages/sdk/src/"],
        pathNot: "^packages/sdk/src/node[.]ts$",
      },
      to: { path: "^packages/protocol/src/index[.]ts$", dependencyTypesNot: ["type-only"] },
    },
    {
      name: "sdk-browser-safe",
      severity: "error",
      comment:
        "The SDK's main entry runs in the browser (the console uses it): Node built-ins only in " +
        "src/node.ts, the @tether/sdk/node entry point, and src/tunnel-socket.ts, which only it exports.",
      from: { path: "^packages/sdk/src/", pathNot: "^packages/sdk/src/(node|tunnel-socket)[.]ts$" },
      to: { dependencyTypes: ["core"] },
    },
    {
      name: "no-deep-imports-across-packages",
      severity: "error",
      comment:
        "One workspace package uses another only by its package name and the entry points its " +
        "package.json exports (@tether/protocol, @tether/protocol/api, @tether/sdk/node, ...), never by " +
        "a relative path into its folder.",
      from: { path: "^packages/([^/]+)/" },
      to: {
        dependencyTypes: ["local"],
        path: "^packages/[^/]+/",
        pathNot: "^packages/$1/",
      },
    },
    {
      name: "declared-dependencies",
      severity: "error",
      comment:
        "A package imports only npm packages its own package.json lists; one that works only because " +
        "npm hoisted it to the root node_modules breaks the day the hoisting changes.",
      from: { path: "^packages/" },
      to: { dependencyTypes: ["npm-no-pkg", "npm-unknown"] },
    },
    {
      name: "not-to-unresolvable",
      severity: "error",
      comment: "An import that does not resolve to a file: a typo, or a package missing from package.json.",
      from: { path: "^packages/" },
      to: { couldNotResolve: true },
    },
  ],

  options: {
    doNotFollow: { path: "(^|/)node_modules/" },
    exclude: { path: "(^|/)dist/" },
    // `import type` is a dependency too (TypeScript erases it, the architecture does not).
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.base.json" },
    enhancedResolveOptions: {
      // Workspace packages resolve to their TypeScript sources, as with `node --conditions=source`.
      exportsFields: ["exports"],
      conditionNames: ["source", "import", "node", "types", "default"],
      mainFields: ["module", "main", "types", "typings"],
    },
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
