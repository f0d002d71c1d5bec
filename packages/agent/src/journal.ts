/**
 * The agent journal as the agent opens it: the core (control/journal.ts) with every
 * capability's slice, so `new Journal(dir)` reads and writes the whole on-disk format.
 */
import { journalSlices } from "./capabilities.js";
import { Journal as JournalCore } from "./control/journal.js";

export type { JournalRecord } from "./control/journal-record.js";

export class Journal extends JournalCore {
  constructor(dir: string) {
    super(dir, journalSlices);
  }
}
