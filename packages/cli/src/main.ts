/** Entry point of the `tether` binary (bin/tether.js imports the built copy). */
import { processIo, run } from "./cli.js";

const code = await run(process.argv.slice(2), processIo());
// Flush stdout before exiting (pipes are asynchronous).
process.stdout.write("", () => process.exit(code));
