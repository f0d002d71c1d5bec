/** xterm.js is loaded with the first terminal page, not with the console (it is most of a megabyte). */
let loading: Promise<typeof import("./xterm-host")> | undefined;

export function loadXterm(): Promise<typeof import("./xterm-host")> {
  loading ??= import("./xterm-host").catch((err) => {
    // Let a later page try again (a deploy replaced the chunk, say).
    loading = undefined;
    throw err;
  });
  return loading;
}
