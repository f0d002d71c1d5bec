/** Entry point of the `tether` binary (bin/tether.js loads the bundle built from this file). */
import { processIo, run } from "./cli.js";

void run(process.argv.slice(2), processIo()).then((code) => {
  // Flush stdout before exiting (pipes are asynchronous).
  process.stdout.write("", () => process.exit(code));
});
