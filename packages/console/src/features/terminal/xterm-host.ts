/**
 * One xterm.js terminal in an element: the console's theme, fitting to the element (FitAddon)
 * when the window or the element changes size (debounced), copy and paste, and the device
 * kept away from the user's clipboard. Device output is hostile: xterm.js draws it as cells,
 * never as HTML, and the escape sequences that reach beyond the terminal are refused here.
 */
import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import "@xterm/xterm/css/xterm.css";

export interface XtermHost {
  term: Terminal;
  /** Fit to the element now (no-op while it is hidden). */
  fit(): void;
  dispose(): void;
}

export interface XtermOptions {
  /** Size to the element (the owner's terminal); false: keep the size set with term.resize. */
  fit: boolean;
  /** Keyboard input disabled (watching, playback). */
  readOnly: boolean;
  /** The device tried to set the clipboard (OSC 52), and was ignored. */
  onClipboardRefused?: () => void;
}

const RESIZE_DEBOUNCE_MS = 80;

const THEME = {
  background: "#151a24",
  foreground: "#e3e7ef",
  cursor: "#e3e7ef",
  selectionBackground: "#3b5a9a",
  black: "#1d2330",
  brightBlack: "#6b7385",
};

export function createXterm(el: HTMLElement, o: XtermOptions): XtermHost {
  const term = new Terminal({
    cursorBlink: !o.readOnly,
    disableStdin: o.readOnly,
    fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace',
    fontSize: 14,
    scrollback: 5000,
    theme: THEME,
    // Links and the like are the device's words: nothing opens a window from here.
    allowProposedApi: false,
  });
  const fitAddon = new FitAddon();
  term.loadAddon(fitAddon);

  // OSC 52 asks the terminal to write (or read) the system clipboard. A device must not be
  // able to put text into the user's clipboard (a later paste would run it), so the sequence is
  // swallowed here: returning true marks it handled, and nothing else sees it (docs/security.md
  // "Tunnels"; the browser test tests/e2e/console-terminal.test.ts checks it).
  term.parser.registerOscHandler(52, () => {
    o.onClipboardRefused?.();
    return true;
  });

  // Copy and paste: Ctrl+C copies when text is selected (else it is the interrupt, as always);
  // Ctrl+Shift+C copies; Ctrl+V / Ctrl+Shift+V / Cmd+V are left to the browser, whose paste
  // event xterm.js turns into input (bracketed when the shell asks for it).
  term.attachCustomKeyEventHandler((ev) => {
    if (ev.type !== "keydown") return true;
    const mod = ev.ctrlKey || ev.metaKey;
    const key = ev.key.toLowerCase();
    if (mod && key === "c" && (ev.shiftKey || ev.metaKey || term.hasSelection())) {
      const text = term.getSelection();
      if (text) void navigator.clipboard?.writeText(text).catch(() => {});
      return false;
    }
    if (mod && key === "v") return false;
    return true;
  });

  term.open(el);

  const fit = () => {
    if (!o.fit || el.clientWidth === 0 || el.clientHeight === 0) return;
    try {
      fitAddon.fit();
    } catch {
      // Not laid out yet.
    }
  };
  let timer: ReturnType<typeof setTimeout> | null = null;
  const later = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(fit, RESIZE_DEBOUNCE_MS);
  };
  const observer = new ResizeObserver(later);
  observer.observe(el);
  window.addEventListener("resize", later);
  fit();

  return {
    term,
    fit,
    dispose() {
      if (timer) clearTimeout(timer);
      observer.disconnect();
      window.removeEventListener("resize", later);
      term.dispose();
    },
  };
}
